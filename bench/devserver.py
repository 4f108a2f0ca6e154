"""serve-site benchmark: from saving a post to the page being told to reload.

Runs `innovate-news serve-site` (its own process) on a copy of the repository's example
project, then saves one post again and again, each time with a different sentence, as an editor
does (a new file renamed over the old one). Edit-to-reload is the time from the rename to the
status endpoint, long-polled as the page's reload script does, reporting the new build: file
watching, the rebuild and the answer. Its peers, timed on the same edits in the same run and
taking turns: `innovate-news build` (warm, one post changed), what a writer would run by hand
without serve-site, and `api.build` in this process (the rebuild alone, the floor).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# bench/email.py must not shadow the standard library's email package (http.client needs it).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

from innovate_news import api  # noqa: E402

EDITS = 15  # timed edits of each kind; the median is reported
POST = "posts/2022-09-27-how-the-case-studies-are-designed.md"
EXAMPLE = ("posts", "issues", "templates", "static", "innovate-news.toml")


def cli() -> list[str]:
    """The console script of this interpreter's environment, else `python -m innovate_news`."""
    script = Path(sys.executable).parent / "innovate-news"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "innovate_news"]


def edit(project: Path, number: int) -> None:
    """Save the post with a sentence it has not had before, through a rename like an editor."""
    path = project / POST
    original = (ROOT / POST).read_text(encoding="utf-8")
    saving = path.with_name(path.name + ".saving")
    saving.write_text(f"{original}\nEdit number {number}.\n", encoding="utf-8")
    saving.replace(path)


def status(url: str, after: int) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}_devsite/status?after={after}", timeout=30) as answer:  # noqa: S310 - loopback
        found: dict[str, object] = json.load(answer)
    return found


def reload_after_edit(project: Path, url: str, number: int) -> float:
    version = int(str(status(url, -1)["version"]))
    started = time.perf_counter()
    edit(project, number)
    while True:
        found = status(url, version)
        if int(str(found["version"])) > version:
            seconds = time.perf_counter() - started
            assert found["error"] is None, found["error"]
            return seconds


def start(project: Path) -> tuple[subprocess.Popen[str], str]:
    """`innovate-news serve-site` in its own process (builds in one process take turns)."""
    config = ["--config", str(project / "innovate-news.toml")]
    child = subprocess.Popen(
        [*cli(), *config, "serve-site", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    for line in child.stdout:
        if found := re.search(r"Serving the site on (http://\S+/) ", line):
            threading.Thread(target=child.stdout.read, daemon=True).start()  # keep it drained
            return child, found.group(1)
    raise RuntimeError("serve-site did not start")


def main() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="innovate-news-devserver-") as temp:
        project = Path(temp)
        for name in EXAMPLE:
            source = ROOT / name
            copy = shutil.copytree if source.is_dir() else shutil.copy2
            copy(source, project / name)
        settings = api.load_settings(project / "innovate-news.toml")
        build = [*cli(), "--config", str(project / "innovate-news.toml"), "build"]
        subprocess.run(build, check=True, capture_output=True)
        api.build(settings)
        server, url = start(project)
        times: dict[str, list[float]] = {"serve-site": [], "build (CLI)": [], "api.build": []}
        try:
            for number in range(1, EDITS + 2):
                # The first round warms each of them; then they take turns on fresh edits.
                seconds = reload_after_edit(project, url, number)
                edit(project, -number)
                started = time.perf_counter()
                subprocess.run(build, check=True, capture_output=True)
                cli_seconds = time.perf_counter() - started
                edit(project, 10_000 + number)
                started = time.perf_counter()
                api.build(settings)
                api_seconds = time.perf_counter() - started
                time.sleep(0.5)  # serve-site rebuilds after those edits too; let it finish
                if number > 1:
                    times["serve-site"].append(seconds)
                    times["build (CLI)"].append(cli_seconds)
                    times["api.build"].append(api_seconds)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(10)
    medians = {name: statistics.median(found) for name, found in times.items()}
    reload = medians["serve-site"]
    lines = [f"serve-site edit-to-reload (median of {len(times['api.build'])} edits, taking turns)"]
    lines += [f"  {name:<28} {seconds * 1000:7.1f} ms" for name, seconds in medians.items()]
    lines += [
        f"  edit-to-reload / warm build (CLI)   {reload / medians['build (CLI)']:5.2f}"
        "  (goal <= 1: no slower than building by hand)",
        f"  edit-to-reload / api.build          {reload / medians['api.build']:5.2f}"
        "  (file watching and the answer on top of the rebuild)",
    ]
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
