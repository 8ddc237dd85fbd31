"""The Next Day Wildfire Spread protocol and its command."""

from __future__ import annotations

import json

import pytest

from emberxr.benchmarks import ndws

from .conftest import TINY


def test_splits_are_the_published_files(ndws_files):
    s = ndws.load_splits(ndws_files, progress=False)
    assert {k: len(v) for k, v in s.items()} == {"train": 4, "val": 2, "test": 2}
    assert {ev.attrs["ndws_split"] for ev in s["val"]} == {"eval"}


def test_the_ndws_command_scores_the_fire_class_with_unknown_masked(ndws_files, tmp_path, capsys):
    from emberxr.cli import main

    out = tmp_path / "ndws.json"
    code = main(
        [
            "benchmark",
            "ndws",
            "--root",
            str(ndws_files),
            "--model",
            "conv2d",
            "--steps",
            "2",
            "--epochs",
            "1",
            "--output-dir",
            str(tmp_path / "runs"),
            "--no-progress",
            "-o",
            str(out),
            *[f"{k}={'null' if v is None else v}" for k, v in TINY.items()],
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "AUC-PR" in text and "0.28–0.34" in text and "0.40–0.42" in text
    data = json.loads(out.read_text())
    assert data["test_pixels"] == 2 * (64 * 64 - 64)  # the -1 block of each tile is left out
    assert 0.0 <= data["auc_pr"] <= 1.0 and 0.0 < data["threshold"] < 1.0
    assert data["tiles"] == {"train": 4, "val": 2, "test": 2}


def test_missing_split_files_are_a_clear_error(tmp_path):
    from emberxr.errors import ReaderError
    from emberxr.testing.public import write_ndws_tfrecord

    write_ndws_tfrecord(tmp_path / "next_day_wildfire_spread_train_00.tfrecord", n_tiles=1)
    with pytest.raises(ReaderError, match="no NDWS file of split 'eval'"):
        ndws.load_splits(tmp_path, progress=False)
