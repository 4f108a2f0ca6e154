"""Startup benchmark: `innovate-news --help` and a no-op build, against `import click`.

Prints, from one run, the median wall time of `python -c "import click"` (the peer: the least
a click CLI pays before it does anything), `innovate-news --help`, and `innovate-news build`
of a copy of the repository's example project when nothing changed since the last build, and
their ratios to the peer. The commands take turns, so a noisy minute slows all of them alike.
"""

from __future__ import annotations

import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Python puts this folder first on the path when a script here runs; bench/email.py would then
# shadow the standard library's email package. Keep the folder, but after the stdlib.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))

from measure import run  # noqa: E402 - the benchmark's own helpers, beside this file

REPEATS = 21  # timed runs of each command; the median is reported
WARMUP = 2  # untimed runs of each command first, so every one starts from a warm page cache
EXAMPLE = (
    "posts",
    "issues",
    "templates",
    "static",
    "innovate-news.toml",
    "subscribers.example.csv",
)


def cli() -> list[str]:
    """The console script of this interpreter's environment, else `python -m innovate_news`."""
    script = Path(sys.executable).parent / "innovate-news"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "innovate_news"]


def byte_compile() -> None:
    """Compile the (editable) package as pip does an installed one, as `make bench` does."""
    spec = importlib.util.find_spec("innovate_news")
    origin = spec.origin if spec is not None and spec.origin else None
    package = Path(origin).parent if origin else ROOT / "innovate_news"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


def copy_example(folder: Path) -> None:
    for name in EXAMPLE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy2(source, folder / name)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every output file's modification time and size: a no-op build changes none of them."""
    return {
        str(path.relative_to(folder)): (path.stat().st_mtime_ns, path.stat().st_size)
        for path in folder.rglob("*")
        if path.is_file()
    }


def measure(commands: dict[str, tuple[list[str], Path]]) -> dict[str, float]:
    """Median seconds per command, the commands taking turns."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for repeat in range(WARMUP + REPEATS):
        for name, (command, cwd) in commands.items():
            seconds = run(command, cwd, memory=False).seconds
            if repeat >= WARMUP:
                times[name].append(seconds)
    return {name: statistics.median(found) for name, found in times.items()}


def main() -> list[str]:
    byte_compile()
    with tempfile.TemporaryDirectory(prefix="innovate-news-startup-") as temp:
        project = Path(temp)
        copy_example(project)
        build = [*cli(), "build", "--now", "2030-01-01"]
        run(build, project, memory=False)  # the first build writes the site; the rest are no-ops
        before = snapshot(project / "site")
        medians = measure(
            {
                "python -c pass": ([sys.executable, "-c", "pass"], project),
                'python -c "import click"': ([sys.executable, "-c", "import click"], project),
                "innovate-news --help": ([*cli(), "--help"], project),
                "innovate-news build (no-op)": (build, project),
            }
        )
        changed = sum(
            1 for name, state in snapshot(project / "site").items() if before.get(name) != state
        )
    click = medians['python -c "import click"']
    help_ratio = medians["innovate-news --help"] / click
    build_ratio = medians["innovate-news build (no-op)"] / click
    lines = [f"startup (median of {REPEATS} runs each, taking turns; ratios from this run)"]
    lines += [f"  {name:<30} {seconds:7.3f} s" for name, seconds in medians.items()]
    lines += [
        f"  (innovate-news run as {'the console script' if len(cli()) == 1 else 'python -m'})",
        f"  no-op build changed {changed} of {len(before)} files in site/ (expected 0)",
        f"  help / import click           {help_ratio:5.2f}  (goal <= 1.5)",
        f"  no-op build / import click    {build_ratio:5.2f}  (goal <= 3)",
    ]
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
