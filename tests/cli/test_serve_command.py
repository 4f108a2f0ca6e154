"""`innovate-news serve` refuses to start without its subscriber list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from innovate_news.errors import ExitCode


def test_serve_refuses_to_start_without_its_list(project: Path) -> None:
    assert not (project / "subscribers.csv").exists()  # [email] subscribers in the example
    done = subprocess.run(
        [sys.executable, "-m", "innovate_news", "--config", str(project / "innovate-news.toml"),
         "serve", "--host", "127.0.0.1", "--port", "0"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == ExitCode.ERROR
    assert f"{project / 'subscribers.csv'}: the subscriber list is missing" in done.stderr
    assert "cp subscribers.example.csv subscribers.csv" in done.stderr
    assert "Traceback" not in done.stderr and "Serving" not in done.stdout
