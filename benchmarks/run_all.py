"""Run every ``benchmarks/bench_*.py`` script in turn; each rewrites its own section of
``docs/benchmarks.md`` (between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``).

Usage: ``make bench`` (or ``python benchmarks/run_all.py [NAME ...]``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        if subprocess.call([sys.executable, str(script), "--write"]) != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
