"""emberxr.normalize: training-split statistics, one-hot categories, direction-preserving wind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emberxr.errors import EmberxrError, EventValidationError
from emberxr.normalize import NormStats, compute_stats, identity_stats
from emberxr.schema import wind_series


def _pooled(events, band):
    vals = []
    for ev in events:
        i = ev.band.values.tolist().index(band)
        x = ev.static.values[i][ev.valid.values]
        vals.append(x[np.isfinite(x)].astype(np.float64))
    return np.concatenate(vals)


def test_continuous_stats_match_pooled_numpy(events, make_synthetic_event):
    train = [*events[:4], make_synthetic_event(invalid_border=5, seed=9, event_id="bordered")]
    stats = compute_stats(train)
    for band in ("elevation", "slope"):
        pooled = _pooled(train, band)
        i = stats.band_names.index(band)
        assert stats.mean[i] == pytest.approx(pooled.mean(), rel=1e-9)
        assert stats.std[i] == pytest.approx(pooled.std(), rel=1e-9)
    # binary band: untouched statistics
    w = stats.band_names.index("water")
    assert (stats.mean[w], stats.std[w]) == (0.0, 1.0)


def test_transformed_training_features_are_standardised(events):
    stats = compute_stats(events)
    feats = [stats.transform_static(ev.static.values)[:, ev.valid.values] for ev in events]
    pooled = np.concatenate(feats, axis=1)
    for name in ("elevation", "slope"):
        j = stats.feature_names.index(name)
        assert abs(pooled[j].mean()) < 1e-4
        assert pooled[j].std() == pytest.approx(1.0, abs=1e-4)


def test_categorical_one_hot_and_unseen_category(events):
    stats = compute_stats(events)
    assert stats.categories["fuel_model"] == [102, 165]
    assert stats.feature_names == ["elevation", "slope", "fuel_model=102", "fuel_model=165", "water"]
    assert stats.n_static == 5
    ev = events[0]
    static = ev.static.values.copy()
    static[2, 0, 0] = 999.0  # a fuel model never seen in training
    static[2, 0, 1] = np.nan
    out = stats.transform_static(static)
    assert out.dtype == np.float32 and out.shape == (5, *static.shape[1:])
    onehot = out[2:4]
    assert onehot[:, 0, 0].tolist() == [0.0, 0.0]
    assert onehot[:, 0, 1].tolist() == [0.0, 0.0]
    fuel = static[2]
    assert np.array_equal(onehot[0][2:], (fuel == 102)[2:].astype(np.float32))
    assert np.array_equal(onehot.sum(0)[1:], np.ones_like(onehot[0][1:]))
    # binary band passes through unchanged
    assert np.array_equal(out[4], static[3])


def test_nan_in_continuous_band_becomes_zero(events):
    stats = compute_stats(events)
    static = events[0].static.values.copy()
    static[0, 4, 4] = np.nan
    out = stats.transform_static(static)
    assert out[0, 4, 4] == 0.0
    assert np.isfinite(out).all()


def test_wind_scale_preserves_direction(events):
    stats = compute_stats(events)
    uv = np.concatenate([wind_series(ev) for ev in events]).astype(np.float64)
    assert stats.wind_scale == pytest.approx(np.sqrt((uv**2).sum(1).mean() / 2), rel=1e-6)
    w = np.array([[3.0, 4.0], [-1.0, 0.5], [0.0, -2.0]], np.float32)
    out = stats.transform_wind(w)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.arctan2(out[:, 1], out[:, 0]), np.arctan2(w[:, 1], w[:, 0]), atol=1e-6)
    np.testing.assert_allclose(out, w / stats.wind_scale, rtol=1e-6)
    assert stats.transform_wind(np.zeros((2, 4, 2))).shape == (2, 4, 2)  # any leading shape


def test_round_trip_through_json_applies_identically(events):
    stats = compute_stats(events)
    d = json.loads(json.dumps(stats.to_dict()))
    back = NormStats.from_dict(d)
    assert back == stats
    ev = events[5]
    assert np.array_equal(back.transform_static(ev.static.values), stats.transform_static(ev.static.values))
    assert np.array_equal(back.transform_wind(wind_series(ev)), stats.transform_wind(wind_series(ev)))


def test_to_dict_is_plain_types_only(events):
    def walk(x):
        if isinstance(x, dict):
            return all(isinstance(k, str) and walk(v) for k, v in x.items())
        if isinstance(x, list):
            return all(walk(v) for v in x)
        return type(x) in (str, int, float, bool)

    assert walk(compute_stats(events).to_dict())


def test_streaming_generator_and_datatree_and_lazy_give_same_stats(events, tmp_path):
    from emberxr.io.events import open_events, save_events

    ref = compute_stats(events)
    assert compute_stats(ev for ev in events) == ref
    save_events(events, tmp_path / "ev.zarr")
    lazy = open_events(tmp_path / "ev.zarr", chunks={})
    got = compute_stats(lazy)  # sorted ids == the events' order here
    assert got.band_names == ref.band_names and got.categories == ref.categories
    np.testing.assert_allclose(got.mean, ref.mean, rtol=1e-9)
    np.testing.assert_allclose(got.std, ref.std, rtol=1e-9)
    assert got.wind_scale == pytest.approx(ref.wind_scale, rel=1e-9)


def test_check_compatible_names_missing_extra_and_order(events):
    stats = compute_stats(events)
    ev = events[0]
    stats.check_compatible(ev)
    with pytest.raises(EventValidationError) as info:
        stats.check_compatible(ev.drop_sel(band="slope"))
    assert "bands missing from the event: ['slope']" in str(info.value)
    extra = ev.assign_coords(band=["elevation", "slope", "fuel_model", "canopy"])
    with pytest.raises(EmberxrError) as info:
        stats.check_compatible(extra)
    assert "['water']" in str(info.value) and "not seen in training: ['canopy']" in str(info.value)
    with pytest.raises(EventValidationError, match="training used"):
        stats.check_compatible(ev.isel(band=[1, 0, 2, 3]))
    rekind = ev.assign_coords(band_kind=("band", ["continuous", "continuous", "continuous", "binary"]))
    with pytest.raises(EventValidationError, match="fuel_model: continuous"):
        stats.check_compatible(rekind)


def test_events_with_different_bands_are_rejected(events):
    other = events[1].drop_sel(band="water")
    with pytest.raises(EventValidationError, match="same static bands"):
        compute_stats([events[0], other])
    with pytest.raises(ValueError, match="at least one"):
        compute_stats([])


def test_identity_stats_leave_values_unscaled(event):
    stats = identity_stats(event)
    out = stats.transform_static(event.static.values)
    assert np.array_equal(out[0], event.static.values[0])
    assert stats.categories["fuel_model"] == [102, 165]
    w = wind_series(event)
    assert np.array_equal(stats.transform_wind(w), w)


def test_wrong_input_shapes_are_named(events):
    stats = compute_stats(events)
    with pytest.raises(ValueError, match=r"expects \[C=4"):
        stats.transform_static(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match=r"\[\.\.\., 2\]"):
        stats.transform_wind(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="no vocabulary"):
        NormStats(["fuel"], ["categorical"])
