"""`make bench`: every benchmark in one run, each printing ratios measured in that same run."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Python puts this folder first on the path when a script here runs; bench/email.py would then
# shadow the standard library's email package. Keep the folder, but after the stdlib.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))

BENCHMARKS = ("startup", "build", "devserver", "email", "send", "serve", "store")


def main() -> None:
    chosen = sys.argv[1:] or list(BENCHMARKS)
    for name in chosen:
        if not (HERE / f"{name}.py").exists():
            print(f"== {name}: not present", flush=True)
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        # Loaded by path under a prefixed name: bench/email.py must not shadow the stdlib's email.
        spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.main()
        print(f"== {name} took {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
