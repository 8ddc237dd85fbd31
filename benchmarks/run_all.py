"""Run every ``benchmarks/bench_*.py`` script; each rewrites its blocks of ``docs/benchmarks.md``.

Usage::

    make bench                                  # every script, full size, --write (see each script)
    .venv/bin/python benchmarks/run_all.py predict inference   # only these (names after bench_)
    make bench-smoke                            # every script at tiny sizes, into a temporary copy
    .venv/bin/python benchmarks/run_all.py --smoke --keep      # ... and keep the copy to look at
    .venv/bin/python benchmarks/run_all.py --render            # re-render every block (and plot) from
                                                               # benchmarks/results/*.json, no measuring

With ``--smoke`` each script runs with ``--smoke --write`` against a temporary copy of the doc, its
own results folder and plot folder, so nothing in the repository changes; the run fails when any
script fails or leaves its block empty.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "benchmarks.md"


def scripts(names: list[str] | None = None) -> list[Path]:
    """The benchmark scripts (all, or those named ``bench_<name>.py``)."""
    found = sorted(HERE.glob("bench_*.py"))
    if names:
        found = [s for s in found if s.stem.removeprefix("bench_") in names]
    return found


def load_script(path: Path):
    """Import a benchmark script as a module (for its ``BLOCKS``, ``render`` and ``plot``)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render_all(names: list[str] | None = None) -> list[str]:
    """Rewrite every block of the doc from the committed results (and redraw the plots)."""
    import benchlib

    from emberxr.doc_blocks import replace_block

    done = []
    for script in scripts(names):
        module = load_script(script)
        for name, render in module.BLOCKS.items():
            if not (benchlib.RESULTS / f"{name.removeprefix('bench:')}.json").exists():
                continue
            results = benchlib.load(name)
            replace_block(DOC, name, render(results))
            if hasattr(module, "plot") and len(module.BLOCKS) == 1:
                module.plot(results, benchlib.IMG)
            done.append(name)
    return done


def smoke_args(tmp: Path) -> list[str]:
    """Options that point a script's outputs into ``tmp`` (a copy of the doc is made there)."""
    doc = tmp / "benchmarks.md"
    if not doc.exists():
        shutil.copy(DOC, doc)
    return [
        "--smoke",
        "--write",
        "--doc",
        str(doc),
        "--results",
        str(tmp / "results"),
        "--img",
        str(tmp / "img"),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="scripts to run (the part after bench_), default all")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, into a temporary copy of the doc")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder of --smoke")
    ap.add_argument("--render", action="store_true", help="only re-render the blocks from the saved results")
    args = ap.parse_args(argv)
    if args.render:
        print("rendered:", ", ".join(render_all(args.names)))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="emberxr-bench-smoke-")) if args.smoke else None
    env = {**os.environ, "MPLBACKEND": "Agg"}
    failed = []
    try:
        for script in scripts(args.names):
            print(f"== {script.name}", flush=True)
            extra = smoke_args(tmp) if tmp else ["--write"]
            if subprocess.call([sys.executable, str(script), *extra], env=env) != 0:
                failed.append(script.name)
    finally:
        if tmp is not None:
            if args.keep:
                print(f"smoke outputs kept in {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
