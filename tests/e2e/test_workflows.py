"""The continuous-integration workflows in .github/workflows/: actionlint finds nothing in them,
and they do what the README says (check pull requests, publish main on GitHub Pages)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from innovate_news import settings as settings_module
from tests.support import REPO

WORKFLOWS = REPO / ".github" / "workflows"
SITE = WORKFLOWS / "site.yml"


def actionlint(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    assert found, "actionlint comes with the dev dependencies: pip install -e '.[dev]'"
    return subprocess.run(
        [found, "-no-color", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    workflows = sorted(str(p) for p in WORKFLOWS.glob("*.y*ml"))
    assert workflows
    result = actionlint(*workflows, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    """So the test above can fail: a workflow with mistakes is not passed."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        SITE.read_text(encoding="utf-8")
        .replace("runs-on: ubuntu-latest", "runs-on: linux-latest", 1)
        .replace("needs: build", "needs: bild"),
        encoding="utf-8",
    )
    result = actionlint(str(broken), cwd=tmp_path)
    assert result.returncode == 1
    assert 'label "linux-latest" is unknown' in result.stdout
    assert 'needs job "bild" which does not exist' in result.stdout


def load(path: Path) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def uses(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        step["uses"].split("@")[0]: step.get("with", {}) for step in job["steps"] if "uses" in step
    }


def test_pull_requests_are_checked_with_annotations() -> None:
    workflow = load(SITE)
    assert "pull_request" in workflow["on"]
    check = workflow["jobs"]["check"]
    assert check["if"] == "github.event_name == 'pull_request'"
    assert "innovate-news check --format github" in runs(check)
    python = uses(check)["actions/setup-python"]["python-version"]
    assert python == "3.11"  # the oldest the package supports (requires-python)
    assert workflow["permissions"] == {"contents": "read"}  # nothing more than reading


def test_main_is_built_and_deployed_to_pages() -> None:
    workflow = load(SITE)
    assert workflow["on"]["push"] == {"branches": ["main"]}
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert build["if"] == "github.event_name != 'pull_request'"
    assert runs(build)[-2:] == ["innovate-news check --format github", "innovate-news build"]
    output = settings_module.load(REPO / "innovate-news.toml").folder("output")
    assert uses(build)["actions/upload-pages-artifact"]["path"] == output.name
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    assert "actions/deploy-pages" in uses(deploy)
