"""Calibration: ECE and reliability bins, temperature / isotonic fitted on validation, kept in the
checkpoint, applied in predict and evaluate, with the threshold chosen on calibrated probabilities."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import emberxr
from emberxr.errors import ConfigError
from emberxr.forecast import forecast
from emberxr.products.calibration import (
    calibrate,
    calibrate_logits,
    expected_calibration_error,
    fit_calibration,
    reliability_bins,
)
from emberxr.train.checkpoint import CheckpointRecord
from emberxr.train.metrics import ScoreCounts


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


class Affine(torch.nn.Module):
    """Logits ``gain * z + shift`` of the true logit ``z`` carried in the batch: miscalibrated on
    purpose (gain > 1: overconfident; shift > 0: overstates fire, like a positive-class weight)."""

    def __init__(self, gain=1.0, shift=0.0):
        super().__init__()
        self.gain, self.shift = gain, shift

    def forward(self, batch):
        return self.gain * batch["z"] + self.shift


def _loader(seed, batches=6, size=32):
    """Batches whose labels are drawn from the true probability ``sigmoid(z)``, plus a burning
    scar (a tenth of the pixels, burning in the last history frame, confident and burned)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batches):
        z = rng.normal(-1.5, 2.0, (4, 1, size, size))
        scar = rng.random(z.shape) < 0.1
        z[scar] = 8.0
        y = (rng.random(z.shape) < _sigmoid(z)) | scar
        valid = np.ones(z.shape, bool)
        valid[..., -3:] = False
        fire = np.concatenate([np.zeros_like(scar), scar], axis=1).astype(np.float32)  # [B, 2, H, W]
        out.append(
            {
                "z": torch.tensor(z, dtype=torch.float32),
                "target": torch.tensor(y.astype(np.float32)),
                "valid": torch.tensor(valid),
                "fire": torch.tensor(fire),
                "valid_t": torch.ones(4, 2, dtype=torch.bool),
            }
        )
    return out


def _ece(model, loader, calibration=None):
    """ECE over the pixels not burning at the issue time (what the calibration maps)."""
    p, y = [], []
    for b in loader:
        last = b["fire"][:, -1:]
        z = calibrate_logits(model(b).float(), calibration, last)
        m = b["valid"].numpy() & (last.numpy() == 0)
        p.append(_sigmoid(z.numpy())[m])
        y.append(b["target"].numpy()[m] > 0.5)
    return expected_calibration_error((np.concatenate(p), np.concatenate(y)))


def test_ece_from_the_metrics_score_table_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    logits = rng.normal(-1, 2, 5000).astype(np.float32)
    labels = rng.random(5000) < _sigmoid(logits) ** 0.5  # under-confident
    table = ScoreCounts()
    table.add(logits, labels)
    p = _sigmoid(logits.astype(np.float64))
    b = np.minimum((p * 10).astype(int), 9)
    direct = sum(
        abs(p[b == i].mean() - labels[b == i].mean()) * (b == i).sum() for i in range(10) if (b == i).any()
    )
    direct /= len(p)
    assert expected_calibration_error(table, 10) == pytest.approx(direct, rel=1e-6)
    assert expected_calibration_error((p, labels), 10) == pytest.approx(direct, rel=1e-9)
    mass = reliability_bins(table, 8, "mass")
    assert len(mass) == 8 and mass["count"].sum() == 5000
    assert mass["count"].min() >= 600 and mass["count"].max() <= 650  # equal mass, up to ties
    assert (np.diff(mass["mean_probability"]) > 0).all()
    with pytest.raises(ConfigError):
        reliability_bins(table, 0, "quantiles")


def test_calibrate_logits_by_temperature_and_isotonic_knots():
    z = torch.tensor([-5.0, -1.0, 0.0, 1.0, 5.0])
    np.testing.assert_allclose(calibrate_logits(z, {"method": "temperature", "temperature": 2.0}), z / 2)
    iso = {"method": "isotonic", "logits": [-1.0, 1.0], "probabilities": [0.2, 0.6]}
    np.testing.assert_allclose(
        _sigmoid(calibrate_logits(z, iso).numpy()), [0.2, 0.2, 0.4, 0.6, 0.6], rtol=1e-5
    )
    assert calibrate_logits(z, None) is z


@pytest.mark.parametrize(
    ("gain", "shift", "method"), [(3.0, 0.0, "temperature"), (1.0, 2.5, "isotonic"), (3.0, 1.0, "isotonic")]
)
def test_calibration_lowers_the_ece_of_a_miscalibrated_model(gain, shift, method):
    model = Affine(gain, shift)
    cal = fit_calibration(model, _loader(1), method)
    held_out = _loader(2)
    before, after = _ece(model, held_out), _ece(model, held_out, cal)
    assert before > 0.05
    assert after < before / 3
    assert cal["ece_after"] < cal["ece_before"] and cal["pixels"] == "all"
    assert cal["n_pixels"] == 6 * 4 * 32 * 29
    if method == "temperature":
        assert cal["temperature"] == pytest.approx(gain, rel=0.1)
    else:
        assert np.all(np.diff(cal["logits"]) > 0) and np.all(np.diff(cal["probabilities"]) >= 0)


def test_pixels_burning_at_issue_keep_their_logits_unless_all_pixels_are_calibrated():
    from emberxr.products.calibration import with_calibration

    batch = _loader(5, batches=1)[0]
    scar = batch["fire"][:, -1:] > 0
    model = Affine(3.0)
    raw = model(batch)
    for pixels in ("unburned", "all"):
        cal = fit_calibration(model, [batch], "temperature", pixels=pixels)
        n = (batch["valid"] & ~scar) if pixels == "unburned" else batch["valid"]
        assert cal["n_pixels"] == int(n.sum())
        out = with_calibration(model, cal)(batch)
        torch.testing.assert_close(out[~scar], raw[~scar] / cal["temperature"])
        if pixels == "unburned":
            torch.testing.assert_close(out[scar], raw[scar])
        else:
            torch.testing.assert_close(out[scar], raw[scar] / cal["temperature"])
    assert with_calibration(model, None) is model


def test_calibration_needs_both_classes_and_a_known_method():
    loader = _loader(3, batches=1)
    for b in loader:
        b["target"][:] = 0
    with pytest.raises(ConfigError, match="0 burning"):
        fit_calibration(Affine(), loader, "temperature")
    with pytest.raises(ConfigError, match="platt") as err:
        fit_calibration(Affine(), loader, "platt", pixels="some")
    assert len(err.value.problems) == 2


def test_calibration_pixels_are_bounded_by_a_seeded_subset():
    from emberxr.products.calibration import collect_pixels

    z1, y1 = collect_pixels(Affine(), _loader(4), max_pixels=5000, seed=0)
    z2, _ = collect_pixels(Affine(), _loader(4), max_pixels=5000, seed=0)
    assert 1000 < z1.size <= 5000 and z1.size == y1.size
    np.testing.assert_array_equal(z1, z2)


def test_the_checkpoint_keeps_the_calibration_weights_only(tmp_path):
    iso = {
        "method": "isotonic",
        "logits": [-2.0, 0.5, 3.0],
        "probabilities": [0.01, 0.3, 0.9],
        "n_pixels": 12,
    }
    rec = CheckpointRecord(
        model_name="conv2d",
        model_config={},
        state_dict={"w": torch.zeros(2)},
        norm_stats={"band_names": []},
        band_names=[],
        calibration=iso,
    )
    rec.save(tmp_path / "m.pt")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    assert raw["calibration"] == iso
    assert CheckpointRecord.load(tmp_path / "m.pt").calibration == iso
    del raw["calibration"]  # files written before the field existed
    assert CheckpointRecord.from_dict(raw).calibration is None


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    from emberxr.testing import synthetic_events, tiny_fit

    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("calibrated")
    fitted = tiny_fit(run, epochs=2, events=4, calibrate="temperature")
    return fitted, synthetic_events(4), run


def test_fit_calibrates_on_validation_and_chooses_the_threshold_on_calibrated_probabilities(calibrated):
    from emberxr.data.loaders import validation_loader
    from emberxr.train.evaluate import choose_threshold

    fitted, events, run = calibrated
    cal = fitted.calibration
    assert cal["method"] == "temperature" and cal["temperature"] > 0
    loader = validation_loader(fitted._events(events, "val"), fitted.stats, fitted.config, fitted.model)
    raw_threshold, _ = choose_threshold(fitted.model, loader)
    calibrated_threshold, _ = choose_threshold(fitted.model, loader, calibrator=cal)
    assert fitted.threshold == calibrated_threshold != raw_threshold
    # temperature scaling of every pixel keeps the F1-best operating point: the threshold maps
    logit = np.log(raw_threshold / (1 - raw_threshold))
    assert fitted.threshold == pytest.approx(_sigmoid(logit / cal["temperature"]), rel=1e-3)
    loaded = emberxr.load(run / "model.pt")
    assert loaded.calibration == cal and loaded.threshold == pytest.approx(fitted.threshold)


def test_predict_applies_the_stored_calibration(calibrated):
    _, events, run = calibrated
    loaded = emberxr.load(run / "model.pt")
    event = events[0]
    ds = loaded.forecast(event, t=3, horizon=2)
    kw = {"max_history": 3, "patch_size": 8, "progress": False}
    raw = forecast(loaded.model, loaded.stats, event, 3, 1, None, **kw)["probability"].values[0]
    t = loaded.calibration["temperature"]
    expected = _sigmoid(np.log(raw / (1 - raw)) / t)
    np.testing.assert_allclose(ds["probability"].values[0], expected, rtol=2e-3, atol=1e-6)
    assert not np.allclose(ds["probability"].values[0], raw)
    assert ds.attrs["calibration"] == "temperature"
    ens = loaded.forecast(event, t=3, horizon=2, members=2)
    assert ens.attrs["calibration"] == "temperature"


def test_evaluate_reports_ece_and_writes_a_reliability_diagram(calibrated, tmp_path):
    fitted, events, _ = calibrated
    df = fitted.evaluate(events, split="val", calibration=True, calibration_dir=tmp_path, per_event=False)
    eces = df.set_index(["target", "scope", "group"])["ece"]
    assert 0.0 <= eces[("next", "all", "all")] <= 1.0 and 0.0 <= eces[("new", "all", "all")] <= 1.0
    assert (tmp_path / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import pandas as pd

    bins = pd.read_csv(tmp_path / "calibration_bins.csv")
    assert set(bins["target"]) == {"next", "new"}
    assert (
        bins.groupby("target")["count"].sum()["next"]
        == df.set_index(["target", "scope"]).loc[("next", "all"), "n_pixels"].item()
    )
    raw = fitted.evaluate(events, split="val", calibration=True, calibrator=None, per_event=False)
    assert raw.set_index(["target", "scope", "group"])["ece"][("next", "all", "all")] != pytest.approx(
        eces[("next", "all", "all")]
    )


def test_calibrate_after_training_and_remove_again(calibrated, tmp_path):
    fitted, events, _ = calibrated
    other = copy.copy(fitted)
    other.metrics = dict(fitted.metrics)
    cal = calibrate(other, events, "isotonic")
    assert other.calibration is cal and cal["method"] == "isotonic"
    other.save(tmp_path / "iso.pt")
    assert emberxr.load(tmp_path / "iso.pt").calibration == cal
    assert calibrate(other, events, "none") is None and other.calibration is None
    assert fitted.calibration["method"] == "temperature"  # the original is untouched
