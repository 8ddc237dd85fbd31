"""The generated calibration block of docs/results.md and the forecasting pictures stay in sync."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from emberxr.doc_blocks import read_block

ROOT = Path(__file__).resolve().parents[2]


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_calibration_block_matches_the_committed_results():
    script = _script("calibration_results")
    assert read_block(ROOT / "docs" / "results.md", "calibration") == script.render().strip(), (
        "docs/results.md is out of date: run `python docs/scripts/calibration_results.py write`"
    )


@pytest.mark.parametrize(
    "name",
    [
        "calibration-reliability.png",
        "forecasting-quicklook.png",
        "forecasting-ensemble.png",
        "forecasting-perimeters.png",
        "forecasting-whatif.png",
        "forecasting-reliability.png",
    ],
)
def test_pictures_exist_and_are_small(name):
    path = ROOT / "docs" / "img" / name
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size < 300_000
