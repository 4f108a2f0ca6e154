"""The optional first_name column: read, tidied, checked like the others, never required."""

from __future__ import annotations

from pathlib import Path

from innovate_news.audience import subscribers


def test_first_name_is_a_known_optional_column(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text(
        "email,name,first_name\n"
        'chidi@example.org,"Okafor, Chidi", Chidi \n'
        "ada@example.org,Ada Obi,\n"
        'eve@example.org,Eve,"E\x1bve"\n',
        encoding="utf-8",
    )
    listing = subscribers.read(path)
    chidi, ada = listing.subscribers
    assert chidi.first_name == "Chidi" and chidi.name == "Okafor, Chidi"
    assert ada.first_name == ""
    (problem,) = listing.problems  # no "unknown column" warning; the escape is refused
    assert problem.line == 4 and "first_name of eve@example.org" in problem.message
