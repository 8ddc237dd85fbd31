"""Checkpoints: the one record, weights_only loading, atomic writes, v1 migration, clear errors."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from emberxr.errors import CheckpointError
from emberxr.train.checkpoint import (
    VERSION,
    CheckpointRecord,
    ResumeState,
    check_bands,
    rng_state,
    set_rng_state,
)


def _record(**kw):
    values = dict(
        model_name="m",
        model_config={"a": 1},
        state_dict={"w": torch.ones(2)},
        norm_stats={"band_names": ["a", "b"], "mean": np.float32(1.5)},
        band_names=("a", "b"),
        threshold=np.float64(0.4),
        config={"data": {"patch_size": 8}},
        epoch=3,
        metrics={"val/ap": 0.5},
        history=[{"epoch": 1, "val/ap": 0.4}],
        pos_weight=2.0,
    )
    values.update(kw)
    return CheckpointRecord(**values)


def test_round_trip_loads_with_weights_only(tmp_path):
    rec = _record(resume=ResumeState(rng=rng_state(), best_metric=0.5, best_epoch=2, global_step=7))
    path = rec.save(tmp_path / "c.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "emberxr-checkpoint" and raw["version"] == VERSION == 3
    assert raw["band_names"] == ["a", "b"] and raw["threshold"] == pytest.approx(0.4)
    assert raw["resume"]["global_step"] == 7 and "path" not in raw
    back = CheckpointRecord.load(path)
    assert torch.equal(back.state_dict["w"], torch.ones(2))
    assert back.threshold == pytest.approx(0.4) and back.epoch == 3 and back.history == rec.history
    assert back.resume.best_epoch == 2 and back.resume.global_step == 7 and back.resume.optimizer is None
    assert back.path == path and back.norm_stats["mean"] == pytest.approx(1.5)
    assert not list(tmp_path.glob(".c.pt.tmp-*"))  # atomic: no temporary left behind


def test_unset_threshold_round_trips_as_none(tmp_path):
    path = _record(threshold=None).save(tmp_path / "best.pt")
    assert torch.load(path, weights_only=True)["threshold"] is None
    assert CheckpointRecord.load(path).threshold is None


def test_of_reads_the_model_and_fills_defaults():
    net = torch.nn.Linear(2, 1)
    net.config = {"in_features": 2}
    rec = CheckpointRecord.of(
        net, model_name="lin", norm_stats={"band_names": ["x"]}, config={"data": {"a": 1}}
    )
    assert rec.model_config == {"in_features": 2} and rec.band_names == ["x"]
    assert rec.data_config == {"a": 1} and rec.threshold is None
    assert set(rec.state_dict) == {"weight", "bias"} and rec.state_dict["weight"].device.type == "cpu"
    assert not rec.state_dict["weight"].requires_grad and torch.equal(rec.state_dict["weight"], net.weight)


def _v1(**extra):
    """A version-1 file exactly as emberxr 0.1 wrote it (before CheckpointRecord)."""
    return {
        "format": "emberxr-checkpoint",
        "version": 1,
        "emberxr_version": "0.1.0",
        "model_name": "m",
        "model_config": {"a": 1},
        "state_dict": {"w": torch.ones(2)},
        "norm_stats": {"band_names": ["a"]},
        "band_names": ["a"],
        "threshold": 0.5,
        "config": {},
        "data_config": {},
        "epoch": 2,
        "metrics": {"val/new_ap": 0.3},
        "pos_weight": 3.0,
        **extra,
    }


def test_v1_best_and_last_lose_their_placeholder_threshold(tmp_path):
    torch.save(_v1(), tmp_path / "best.pt")
    best = CheckpointRecord.load(tmp_path / "best.pt")
    assert best.threshold is None and best.version == 1 and best.epoch == 2 and best.pos_weight == 3.0
    resume = {
        "optimizer": None,
        "best_metric": 0.3,
        "global_step": 5,
        "history": [{"epoch": 1}, {"epoch": 2}],
    }
    torch.save(_v1(resume=resume), tmp_path / "last.pt")
    last = CheckpointRecord.load(tmp_path / "last.pt")
    assert last.threshold is None
    assert last.history == [{"epoch": 1}, {"epoch": 2}]  # moved from resume to the top level
    assert last.resume.global_step == 5 and last.resume.best_metric == 0.3


def test_v1_model_pt_keeps_its_chosen_threshold(tmp_path):
    torch.save(_v1(threshold=0.37, history=[], steps=10, train_seconds=1.5), tmp_path / "model.pt")
    rec = CheckpointRecord.load(tmp_path / "model.pt")
    assert rec.threshold == pytest.approx(0.37) and rec.steps == 10 and rec.train_seconds == 1.5
    again = rec.save(tmp_path / "v2.pt")  # re-saving writes the current version
    assert torch.load(again, weights_only=True)["version"] == VERSION


def test_bad_files_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        CheckpointRecord.load(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="could not be read"):
        CheckpointRecord.load(tmp_path / "junk.pt")
    good = _record().save(tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="could not be read") as info:
        CheckpointRecord.load(tmp_path / "cut.pt")
    assert "weights_only" not in str(info.value)
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an emberxr checkpoint"):
        CheckpointRecord.load(tmp_path / "other.pt")
    bad = _v1()
    del bad["norm_stats"], bad["threshold"]
    torch.save(bad, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="lacks field\\(s\\) norm_stats, threshold"):
        CheckpointRecord.load(tmp_path / "partial.pt")
    torch.save({**_v1(), "version": VERSION + 1}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="upgrade emberxr"):
        CheckpointRecord.load(tmp_path / "future.pt")


def test_pickled_objects_are_refused_without_torchs_weights_only_advice(tmp_path):
    torch.save({**_v1(), "extra": np.arange(3)}, tmp_path / "pickled.pt")  # a numpy array is code to unpickle
    with pytest.raises(CheckpointError) as info:
        CheckpointRecord.load(tmp_path / "pickled.pt")
    msg = str(info.value)
    assert "not a weights-only emberxr checkpoint" in msg and "numpy" in msg and "Fix:" in msg
    assert "weights_only" not in msg and "trust" not in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained torch text


def test_band_check_names_missing_extra_and_order():
    check_bands(["a", "b"], ["a", "b"])
    with pytest.raises(CheckpointError, match="missing band\\(s\\) b; unexpected band\\(s\\) c"):
        check_bands(["a", "b"], ["a", "c"])
    with pytest.raises(CheckpointError, match="another order"):
        check_bands(["a", "b"], ["b", "a"])


def test_rng_state_round_trip(tmp_path):
    path = _record(resume=ResumeState(rng=rng_state())).save(tmp_path / "r.pt")
    a = (random.random(), np.random.rand(), torch.rand(1).item())  # noqa: NPY002
    set_rng_state(CheckpointRecord.load(path).resume.rng)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a  # noqa: NPY002


def test_v1_emberformer_checkpoint_with_old_config_keys_loads(tmp_path):
    """An emberxr 0.1 EmberFormer file: ``model.temporal.*`` config keys and ``decoder_weights``
    (a weight file that no longer exists) are migrated, and the weights load without the file."""
    from emberxr.registry import create_model

    small_unet = {"encoder_depth": 3, "decoder_channels": [32, 16, 8]}
    net = create_model(
        "emberformer",
        in_static=2,
        patch_size=8,
        max_history=4,
        d_model=16,
        nhead=2,
        num_layers=1,
        decoder="unet",
        decoder_config=small_unet,
    )
    old_config = {k: v for k, v in net.config.items() if k != "pretrained"}
    old_config["decoder_weights"] = str(tmp_path / "gone.pt")
    v1 = _v1(
        model_name="emberformer",
        model_config=old_config,
        state_dict=net.state_dict(),
        norm_stats={"band_names": ["a", "b"]},
        band_names=["a", "b"],
        threshold=0.42,
        history=[],
        steps=3,
        config={
            "model": {
                "name": "emberformer",
                "temporal": {"d_model": 16, "nhead": 2},
                "spatial": {"decoder_type": "unet"},
            }
        },
    )
    torch.save(v1, tmp_path / "model.pt")
    rec = CheckpointRecord.load(tmp_path / "model.pt")
    assert (
        rec.model_config["pretrained"] == str(tmp_path / "gone.pt")
        and "decoder_weights" not in rec.model_config
    )
    assert rec.config["model"] == {"name": "emberformer", "d_model": 16, "nhead": 2, "decoder": "unet"}
    back = rec.build_model()
    for k, v in net.state_dict().items():
        assert torch.equal(back.state_dict()[k], v)
    assert rec.threshold == pytest.approx(0.42)
    assert rec.training_config()["model"]["decoder"] == "unet"  # validates in the current layout


def test_v2_light_decoder_checkpoints_load_with_the_concat_merge(tmp_path):
    """Format 2 was written while the light decoder's merge default was "concat": such a file
    rebuilds that decoder (its weights fit, its outputs are the same), not today's default."""
    import emberxr
    from emberxr.testing import make_batch

    torch.manual_seed(0)
    opts = {"in_static": 2, "patch_size": 8, "d_model": 16, "nhead": 2, "num_layers": 1}
    old = emberxr.create_model("emberformer", **opts, decoder_config={"merge": "concat"}).eval()
    rec = CheckpointRecord.of(
        old,
        model_name="emberformer",
        norm_stats={"band_names": ["a", "b"]},
        config={"model": {"name": "emberformer", "preset": "cpu"}, "data": {"patch_size": 8}},
    )
    raw = rec.to_dict()
    # what emberxr wrote before format 3: no merge recorded anywhere
    raw.update(version=2, model_config={**raw["model_config"], "decoder_config": None})
    torch.save(raw, tmp_path / "v2.pt")
    back = CheckpointRecord.load(tmp_path / "v2.pt")
    assert back.model_config["decoder_config"] == {"merge": "concat"}
    assert back.config["model"] == {
        "name": "emberformer",
        "preset": "cpu",
        "decoder_config": {"merge": "concat"},
    }
    batch = make_batch(B=1, T=2, H=16, W=16, in_static=2, patch_size=8)
    with torch.no_grad():
        assert torch.equal(back.build_model().eval()(batch), old(batch))
    # a format-3 file keeps what it recorded, and other decoders are left alone
    raw3 = {**raw, "version": 3}
    torch.save(raw3, tmp_path / "v3.pt")
    assert CheckpointRecord.load(tmp_path / "v3.pt").model_config["decoder_config"] is None
    unet = {**raw, "model_config": {**raw["model_config"], "decoder": "unet"}}
    torch.save(unet, tmp_path / "unet.pt")
    assert CheckpointRecord.load(tmp_path / "unet.pt").model_config["decoder_config"] is None
