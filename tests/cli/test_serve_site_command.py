"""`innovate-news serve-site` as a user runs it: its own process, stopped with Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import requests
from click.testing import Result

Run = Callable[..., Result]

WAIT = 20.0


def test_help_lists_serve_site(run: Run) -> None:
    listing = run("--help")
    assert "serve-site   Preview the site on 127.0.0.1" in listing.output
    assert "--port" in run("serve-site", "--help").output


def test_serve_site_serves_the_local_build_and_stops_on_ctrl_c(project: Path) -> None:
    config = str(project / "innovate-news.toml")
    command = [
        sys.executable,
        "-m",
        "innovate_news",
        "--config",
        config,
        "serve-site",
        "--port",
        "0",
    ]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = threading.Timer(WAIT * 2, child.kill)  # a hung child fails the test, not CI
    deadline.start()
    try:
        assert child.stdout is not None
        lines = [child.stdout.readline() for _ in range(2)]  # the first build, then the address
        found = re.search(r"Serving the site on (http://127\.0\.0\.1:\d+/)", "".join(lines))
        assert found, lines
        home = requests.get(found.group(1), timeout=WAIT)
        assert home.status_code == 200 and f'href="{found.group(1)}posts/' in home.text
    finally:
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=WAIT)
        deadline.cancel()
    assert child.returncode == 0, err
    assert "Traceback" not in err
    assert not (project / "site").exists()  # the real output folder is not written
