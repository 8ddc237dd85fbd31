"""The streaming benchmark: its smoke mode runs every part, and its docs block is the rendered result."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emberxr.doc_blocks import read_block

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_streaming.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_streaming", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_docs_block_is_the_rendered_committed_result():
    bench = _bench()
    results = json.loads(bench.RESULTS.read_text())
    assert read_block(bench.DOC, bench.BLOCK) == bench.render(results), (
        "docs/benchmarks.md is out of date: run `python benchmarks/bench_streaming.py --write`"
    )


@pytest.mark.slow
def test_smoke_run_measures_both_paths_and_memory(tmp_path):
    out = tmp_path / "streaming.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(out)], check=True, env=env, capture_output=True
    )
    res = json.loads(out.read_text())
    rows = res["throughput"]["rows"]
    assert [r["workers"] for r in rows] == [0, 1]
    for r in rows:
        for mode in ("preloaded", "streamed"):
            assert r[mode]["epoch1"] > 0 and r[mode]["epoch2"] > 0
    runs = res["memory"]["runs"]
    assert [r["events"] for r in runs] == [3, 6] and all(r["workers"] == 1 for r in runs)
    for r in runs:
        assert r["steps"] == 4 and r["peak_main_mib"] >= r["baseline_mib"] > 0 and r["peak_worker_mib"] > 0
    assert "streamed / preloaded" in _bench().render(res)
