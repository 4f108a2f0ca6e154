"""Run a command and measure its wall time and peak memory (the process tree's PSS)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_tree_mib: float  # sum of PSS over the process and its children, sampled every 20 ms


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in task.read_text().split()]
        except OSError:
            continue
    return found


def _tree_rss_kib(pid: int) -> int:
    """Proportional set size over the tree: pages shared by forked workers count once."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
        stack.extend(_children(current))
    return total


def run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, memory: bool = True
) -> Run:
    """Run `command` to completion, sampling the tree's memory every 20 ms if `memory`.

    Reading smaps_rollup takes each sampled process's memory-map lock, which slows it down
    (and a tree of three processes more than one): runs that are timed are not sampled.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kib(process.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    if memory:
        sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    if memory:
        sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{command} failed ({process.returncode}):\n{stderr.decode()[-2000:]}")
    return Run(seconds, peak / 1024 if memory else float("nan"))
