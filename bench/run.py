"""`make bench`: every benchmark in one run, each printing ratios measured in that same run."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BENCHMARKS = ("build", "email", "send", "serve")


def main() -> None:
    chosen = sys.argv[1:] or list(BENCHMARKS)
    for name in chosen:
        if not (HERE / f"{name}.py").exists():
            print(f"== {name}: not present", flush=True)
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(name)
        module.main()
        print(f"== {name} took {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
