"""Ensembles: reproducible, consistent with the deterministic roll-out, probabilities that behave."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xarray as xr

from emberxr.errors import ConfigError, ThresholdNotSetError
from emberxr.forecast import forecast
from emberxr.models.base import last_frame


def test_seeded_ensembles_reproduce_exactly_and_seeds_differ(make_grow, scene):
    event, stats, kw = scene
    a = forecast(make_grow(), stats, event, t=2, horizon=3, members=6, seed=7, **kw)
    b = forecast(make_grow(), stats, event, t=2, horizon=3, members=6, seed=7, **kw)
    c = forecast(make_grow(), stats, event, t=2, horizon=3, members=6, seed=8, **kw)
    xr.testing.assert_identical(a, b)
    assert not np.array_equal(a["probability"].values, c["probability"].values, equal_nan=True)
    assert a.attrs["seed"] == 7 and a.attrs["members"] == 6 and a.attrs["sampling"] == "bernoulli"
    assert a.rio.crs == event.rio.crs and a.rio.transform() == event.rio.transform()


def test_one_member_without_sampling_is_the_deterministic_rollout(make_grow, scene):
    event, stats, kw = scene
    det = forecast(make_grow(), stats, event, t=2, horizon=4, threshold=0.2, **kw)
    ens = forecast(
        make_grow(), stats, event, t=2, horizon=4, threshold=0.2, members=1, sampling="threshold", **kw
    )
    np.testing.assert_array_equal(ens["fire_mask"].values, det["fire_mask"].values)
    np.testing.assert_array_equal(ens["mean_probability"].values, det["probability"].values)
    np.testing.assert_array_equal(ens["arrival_time"].values, det["arrival_time"].values)
    valid = event["valid"].values
    np.testing.assert_array_equal(ens["probability"].values[:, valid], det["fire_mask"].values[:, valid])
    np.testing.assert_array_equal(
        ens["arrival_time_std"].values[np.isfinite(det["arrival_time"].values)], 0.0
    )
    assert det["fire_mask"].values[-1].sum() > det["fire_mask"].values[0].sum()  # the fire did grow


@pytest.mark.parametrize("sampling", ["bernoulli", "quantile"])
def test_burn_probability_is_a_share_of_members_and_never_decreases(make_grow, scene, sampling):
    event, stats, kw = scene
    n = 8
    ds = forecast(make_grow(), stats, event, t=2, horizon=4, members=n, sampling=sampling, seed=3, **kw)
    valid = event["valid"].values
    p = ds["probability"].values
    assert np.isnan(p[:, ~valid]).all()
    pv = p[:, valid]
    assert pv.min() >= 0.0 and pv.max() <= 1.0
    np.testing.assert_allclose(pv * n, np.round(pv * n), atol=1e-5)  # shares of 8 members
    assert (np.diff(pv, axis=0) >= 0).all()
    burning = (event["fire"].values[2] > 0) & valid
    np.testing.assert_array_equal(pv[:, burning[valid]], 1.0)  # burning at issue: every member
    assert ((pv > 0) & (pv < 1)).any()  # the members disagree somewhere
    arrival, spread = ds["arrival_time"].values, ds["arrival_time_std"].values
    np.testing.assert_array_equal(np.isfinite(arrival), valid & (p[-1] > 0))
    assert np.nanmin(arrival) == 0.0 and np.nanmax(arrival) <= 4.0 and np.nanmin(spread) >= 0.0
    np.testing.assert_array_equal(ds["fire_mask"].values[:, valid], (pv >= 0.5).astype(np.uint8))


def test_members_share_one_model_call_while_their_histories_are_equal(make_grow, scene):
    event, stats, kw = scene
    model = make_grow()
    forecast(model, stats, event, t=2, horizon=1, members=16, **kw)
    assert model.calls == 1 and model.rows == 1  # step 1: every member has the observed history
    model = make_grow()
    forecast(model, stats, event, t=2, horizon=3, threshold=0.5, members=5, sampling="threshold", **kw)
    assert model.rows == 3  # identical members: one history per step


def test_wind_spread_changes_members_and_zero_spread_changes_nothing(make_grow, scene):
    event, stats, kw = scene
    run = {"t": 2, "horizon": 3, "members": 6, "seed": 1, **kw}
    base = forecast(make_grow(wind_gain=3.0), stats, event, **run)
    zero = forecast(make_grow(wind_gain=3.0), stats, event, wind_spread=(0, 0), **run)
    wide = forecast(make_grow(wind_gain=3.0), stats, event, wind_spread="30,90", **run)
    np.testing.assert_array_equal(zero["mean_probability"].values, base["mean_probability"].values)
    assert not np.allclose(
        wide["mean_probability"].values[1:], base["mean_probability"].values[1:], equal_nan=True
    )
    np.testing.assert_array_equal(wide["mean_probability"].values[0], base["mean_probability"].values[0])
    assert wide.attrs["wind_spread_kmh"] == 30.0 and wide.attrs["wind_spread_deg"] == 90.0


def test_auto_wind_spread_follows_the_events_recent_variability(make_grow, scene):
    event, stats, kw = scene
    steady = forecast(make_grow(), stats, event, t=4, horizon=2, members=2, wind_spread="auto", **kw)
    assert steady.attrs["wind_spread_kmh"] == pytest.approx(0.0, abs=1e-3)
    assert steady.attrs["wind_spread_deg"] == pytest.approx(0.0, abs=1e-2)
    gusty = event.copy()
    gusty["wind_u"] = gusty["wind_u"] * xr.DataArray(np.linspace(0.5, 1.5, 8), dims="time")
    gusty["wind_v"] = gusty["wind_v"] + xr.DataArray(np.linspace(-2, 2, 8), dims="time")
    ds = forecast(make_grow(), stats, gusty, t=4, horizon=2, members=2, wind_spread="auto", **kw)
    assert ds.attrs["wind_spread_kmh"] > 1.0 and ds.attrs["wind_spread_deg"] > 1.0
    assert "auto" in ds.attrs["wind_spread_source"]


def test_bad_ensemble_options_are_named_errors(make_grow, scene):
    event, stats, kw = scene
    with pytest.raises(ConfigError) as err:
        forecast(make_grow(), stats, event, horizon=2, members=0, sampling="dice", seed=-1, **kw)
    assert len(err.value.problems) == 3
    with pytest.raises(ConfigError, match="without members"):
        forecast(make_grow(), stats, event, horizon=2, seed=3, **kw)
    with pytest.raises(ThresholdNotSetError):
        forecast(make_grow(), stats, event, horizon=2, members=2, sampling="threshold", **kw)
    with pytest.raises(ConfigError, match="one-step"):
        forecast(make_grow(), stats, event, horizon=1, members=2, wind_spread="5,10", **kw)
    with pytest.raises(ConfigError, match="SPEED_KMH"):
        forecast(make_grow(), stats, event, horizon=2, members=2, wind_spread="fast", **kw)


class _DynamicGrow(torch.nn.Module):
    """Grow plus the mean of the last step's first dynamic band (so the bands move the output)."""

    def forward(self, batch):
        last = last_frame(batch)
        dyn = batch["dynamic"][:, -1, :1].to(torch.float32)  # [B, 1, H, W]
        return 12.0 * F.avg_pool2d(last, 5, stride=1, padding=2) - 6.0 + 3.0 * dyn


def test_ensembles_pass_dynamic_bands_and_the_calibration_to_the_model():
    from emberxr.normalize import compute_stats
    from emberxr.testing import synthetic_event

    event = synthetic_event(height=32, width=32, steps=6, dynamic=True)
    stats = compute_stats([event])
    kw = {"max_history": 3, "patch_size": 16, "progress": False, "threshold": 0.3}
    det = forecast(_DynamicGrow(), stats, event, t=2, horizon=3, **kw)
    ens = forecast(_DynamicGrow(), stats, event, t=2, horizon=3, members=1, sampling="threshold", **kw)
    np.testing.assert_array_equal(ens["mean_probability"].values, det["probability"].values)
    # other dynamic bands: another forecast (the ensemble reads them, step by step)
    moved = event.copy()
    moved["dynamic"] = moved["dynamic"] + 2.0
    ens2 = forecast(_DynamicGrow(), stats, moved, t=2, horizon=3, members=1, sampling="threshold", **kw)
    assert not np.allclose(ens2["mean_probability"].values, ens["mean_probability"].values, equal_nan=True)
    # a temperature calibration flattens every member's probabilities
    cal = {"method": "temperature", "temperature": 4.0, "pixels": "all"}
    flat = forecast(_DynamicGrow(), stats, event, t=2, horizon=1, members=2, calibrator=cal, **kw)
    raw = forecast(_DynamicGrow(), stats, event, t=2, horizon=1, members=2, **kw)
    assert flat.attrs["calibration"] == "temperature" and raw.attrs["calibration"] == "none"
    p_cal, p_raw = flat["mean_probability"].values, raw["mean_probability"].values
    ok = np.isfinite(p_raw) & (np.abs(p_raw - 0.5) > 0.05)
    assert (np.abs(p_cal[ok] - 0.5) < np.abs(p_raw[ok] - 0.5)).all()
