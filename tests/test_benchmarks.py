"""The benchmark scripts: generated blocks of docs/benchmarks.md match their committed results, and
every script runs at tiny sizes (``--smoke``) into a temporary copy of the doc."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emberxr.doc_blocks import read_block

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
DOC = ROOT / "docs" / "benchmarks.md"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))


def _module(path: Path):
    sys.path.insert(0, str(BENCH))
    try:
        from run_all import load_script

        return load_script(path)
    finally:
        sys.path.remove(str(BENCH))


def _blocks():
    return [(s.stem, name) for s in SCRIPTS for name in _module(s).BLOCKS]


def test_every_block_of_the_doc_belongs_to_a_script():
    names = set(re.findall(r"<!-- (bench:[\w-]+):start -->", DOC.read_text()))
    assert names == {name for _, name in _blocks()}


@pytest.mark.parametrize(("script", "block"), _blocks())
def test_generated_block_matches_its_committed_results(script, block):
    sys.path.insert(0, str(BENCH))
    try:
        import benchlib
    finally:
        sys.path.remove(str(BENCH))
    render = _module(BENCH / f"{script}.py").BLOCKS[block]
    expected = render(benchlib.load(block)).strip("\n")
    assert read_block(DOC, block) == expected, (
        f"docs/benchmarks.md block {block} differs from benchmarks/results: run "
        f"`.venv/bin/python benchmarks/run_all.py --render` (or re-measure with {script}.py --write)"
    )


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_script_runs_at_tiny_sizes(script, tmp_path):
    doc = tmp_path / "benchmarks.md"
    shutil.copy(DOC, doc)
    before = DOC.read_text()
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(script), "--smoke", "--write", "--doc", str(doc)]
    cmd += ["--results", str(tmp_path / "results"), "--img", str(tmp_path / "img")]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    module = _module(script)
    sys.path.insert(0, str(BENCH))
    try:
        import benchlib
    finally:
        sys.path.remove(str(BENCH))
    written = [
        b for b in module.BLOCKS if (tmp_path / "results" / f"{b.removeprefix('bench:')}.json").exists()
    ]
    assert written, "the smoke run saved no results"
    for block in written:
        text = read_block(doc, block)
        assert text and text == module.BLOCKS[block](benchlib.load(block, tmp_path / "results")).strip("\n")
        assert "--smoke" in text  # the block says it came from a smoke run
    assert DOC.read_text() == before  # the real doc is untouched
