"""Topic blocks in an issue's editorial: which copy keeps what, and mistakes on their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from innovate_news.content import editorial, issues
from innovate_news.errors import ContentError
from innovate_news.settings import Settings

BODY = """Everyone reads this.

::: finding
Findings only.
:::

::: blog event
Blog or event.
:::

```
::: event
kept: code
:::
```
The end.
"""


def test_a_copy_keeps_the_blocks_of_its_topics_and_never_the_markers() -> None:
    finding = editorial.for_topics(BODY, frozenset({"finding"}))
    assert "Findings only." in finding and "Blog or event." not in finding
    event = editorial.for_topics(BODY, frozenset({"event"}))
    assert "Findings only." not in event and "Blog or event." in event
    for text in (finding, event):
        assert "Everyone reads this." in text and "The end." in text
        assert "::: finding" not in text and "::: blog" not in text
        assert "```\n::: event\nkept: code\n:::\n```" in text  # code is left alone
    web = editorial.for_topics(BODY, None)
    assert "Findings only." in web and "Blog or event." in web and "::: blog" not in web


def write(project: Path, body: str) -> Path:
    path = project / "issues" / "2024-01-blocks.md"
    path.write_text(f"---\nsubject: Blocks\ndate: 2024-01-10\nposts: []\n---\n{body}", "utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("Hi.\n::: findings\nx\n:::\n", 7, "unknown topic(s) findings"),
        ("Hi.\n::: event\nx\n", 7, "never closed"),
        ("Hi.\n:::\n", 7, "closes no topic block"),
        ("::: event\n::: blog\nx\n:::\n", 7, "inside the one opened on line 6"),
    ],
)
def test_a_wrong_block_is_an_error_on_its_line(
    settings: Settings, project: Path, body: str, line: int, message: str
) -> None:
    path = write(project, body)
    with pytest.raises(ContentError) as caught:
        issues.parse_issue(path, path.read_bytes(), settings)
    (problem,) = caught.value.problems
    assert problem.line == line and message in problem.message
