"""Checkpoints: weights_only loading, atomic writes, clear errors, RNG state round trip."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from emberxr.errors import CheckpointError
from emberxr.train.checkpoint import check_bands, load_checkpoint, rng_state, save_checkpoint, set_rng_state


def _payload():
    return {
        "model_name": "m",
        "model_config": {"a": 1},
        "state_dict": {"w": torch.ones(2)},
        "norm_stats": {"mean": np.float32(1.5)},
        "band_names": ("a", "b"),
        "threshold": np.float64(0.4),
        "resume": {"rng": rng_state(), "hist": np.arange(3)},
    }


def test_round_trip_loads_with_weights_only(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", _payload())
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "emberxr-checkpoint" and raw["version"] == 1
    assert raw["band_names"] == ["a", "b"] and raw["threshold"] == pytest.approx(0.4)
    ck = load_checkpoint(path)
    assert torch.equal(ck["state_dict"]["w"], torch.ones(2))
    assert not list(tmp_path.glob(".c.pt.tmp-*"))  # atomic: no temporary left behind


def test_bad_files_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="could not be read"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an emberxr checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_band_check_names_missing_extra_and_order():
    check_bands(["a", "b"], ["a", "b"])
    with pytest.raises(CheckpointError, match="missing band\\(s\\) b; unexpected band\\(s\\) c"):
        check_bands(["a", "b"], ["a", "c"])
    with pytest.raises(CheckpointError, match="another order"):
        check_bands(["a", "b"], ["b", "a"])


def test_rng_state_round_trip(tmp_path):
    state = rng_state()
    save_checkpoint(tmp_path / "r.pt", {**_payload(), "rng": state})
    a = (random.random(), np.random.rand(), torch.rand(1).item())  # noqa: NPY002
    set_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a  # noqa: NPY002
