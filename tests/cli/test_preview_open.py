"""`preview --open` on a machine with no web browser says where the file is, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# What xdg-open does on a machine without a display: tries console browsers, one error each.
XDG_OPEN = """#!/bin/sh
for b in www-browser links2 elinks links lynx w3m; do
  echo "/usr/bin/xdg-open: $b: not found" >&2
done
exit 3
"""


def test_preview_open_without_a_browser_names_the_file(project: Path, tmp_path: Path) -> None:
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    xdg_open = bin_folder / "xdg-open"
    xdg_open.write_text(XDG_OPEN, encoding="utf-8")
    xdg_open.chmod(0o755)
    hidden = ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env.update(PATH=str(bin_folder), TERM="xterm")  # no browser, console or graphical, on PATH
    done = subprocess.run(
        [sys.executable, "-m", "innovate_news", "--config", str(project / "innovate-news.toml"),
         "preview", "latest", "--open", "--now", "2026-11-25T12:00"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    html = project / "preview" / "2023-06-guidance-year.html"
    assert done.returncode == 0, done.stderr
    assert f"No web browser found on this machine: open {html} in one." in done.stdout
    assert "not found" not in done.stderr and "xdg-open" not in done.stderr
