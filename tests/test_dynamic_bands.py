"""Dynamic bands in the data model: make_event, validation, zarr round trip, normalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

import emberxr
from emberxr.errors import EventValidationError
from emberxr.normalize import NormStats, compute_stats, identity_stats
from emberxr.schema import (
    DBAND,
    DBAND_KIND,
    DYNAMIC,
    dynamic_band_kinds,
    dynamic_band_names,
    make_event,
    unpaired_vector_bands,
    vector_pairs,
)
from emberxr.testing import synthetic_event, synthetic_events


def _with_dynamic(ev: xr.Dataset, dyn: np.ndarray, names, kinds=None, **kw) -> xr.Dataset:
    return make_event(
        ev.fire.values,
        ev.static.values,
        ev.wind_u.values,
        ev.wind_v.values,
        times=ev.time.values,
        x=ev.x.values,
        y=ev.y.values,
        crs=ev.rio.crs,
        band_names=[str(b) for b in ev.band.values],
        band_kinds=[str(k) for k in ev.band_kind.values],
        valid=ev.valid.values,
        dynamic=dyn,
        dynamic_bands=names,
        dynamic_kinds=kinds,
        event_id=ev.attrs["event_id"],
        **kw,
    )


# -- schema --------------------------------------------------------------------------------------
def test_make_event_builds_dynamic_from_an_array_or_a_mapping():
    ev = synthetic_event(steps=5, dynamic=True)
    assert ev[DYNAMIC].dims == ("time", DBAND, "y", "x") and ev[DYNAMIC].dtype == np.float32
    assert dynamic_band_names(ev) == ["tmax", "wind_dir_sin", "wind_dir_cos", "landcover"]
    assert dynamic_band_kinds(ev)["landcover"] == "categorical"
    assert dynamic_band_kinds(ev)["tmax"] == "continuous"
    again = _with_dynamic(
        ev, ev[DYNAMIC].values, dynamic_band_names(ev), list(dynamic_band_kinds(ev).values())
    )
    xr.testing.assert_identical(again[DYNAMIC], ev[DYNAMIC])
    assert emberxr.validate(ev) is ev


def test_make_event_keeps_dask_dynamic_lazy():
    import dask.array as dsa

    ev = synthetic_event(steps=4)
    dyn = dsa.ones((4, 2, 32, 40), chunks=(1, 2, 32, 40))
    out = _with_dynamic(ev, dyn, ["a", "b"])
    assert hasattr(out[DYNAMIC].data, "__dask_graph__")
    emberxr.validate(out)


def test_make_event_rejects_dynamic_of_the_wrong_shape_listing_every_problem():
    ev = synthetic_event(steps=4)
    with pytest.raises(EventValidationError) as err:
        _with_dynamic(ev, np.zeros((3, 2, 32, 40), np.float32), ["a", "b", "c"], ["continuous"])
    text = str(err.value)
    assert "dynamic has shape (3, 2, 32, 40)" in text and "1 dynamic band kind(s) for 3 band(s)" in text
    with pytest.raises(EventValidationError, match="3 dynamic band name"):
        _with_dynamic(ev, np.zeros((4, 2, 32, 40), np.float32), ["a", "b", "c"])


def test_an_event_without_dynamic_has_no_dynamic_bands():
    ev = synthetic_event()
    assert DYNAMIC not in ev and dynamic_band_names(ev) == [] and dynamic_band_kinds(ev) == {}


def test_vector_pairs_follow_the_name_convention():
    names = ["tmax", "wind_dir_sin", "aspect_u", "wind_dir_cos", "aspect_v", "_sin", "doy_sin"]
    assert vector_pairs(names) == [(1, 3), (2, 4)]
    assert unpaired_vector_bands(names) == ["doy_sin (no doy_cos)"]


# -- validation ----------------------------------------------------------------------------------
def test_validate_accepts_nan_as_missing_but_lists_every_dynamic_problem():
    ev = synthetic_event(steps=4)
    dyn = np.random.default_rng(0).normal(size=(4, 4, 32, 40)).astype(np.float32)
    dyn[0, 0, :2] = np.nan  # missing: fine
    emberxr.validate(_with_dynamic(ev, dyn, ["a", "b", "c", "d"]))
    bad = dyn.copy()
    bad[1, 0, 5, 5] = np.inf
    bad[:, 2] = 0.5  # not binary
    bad[:, 3] = 1.5  # not integer codes
    out = _with_dynamic(ev, bad, ["a", "x_sin", "flag", "lc"], {"flag": "binary", "lc": "categorical"})
    out = out.assign_coords({DBAND: ["a", "x_sin", "flag", "flag"]})
    with pytest.raises(EventValidationError) as err:
        emberxr.validate(out)
    text = str(err.value)
    for words in (
        "duplicate dynamic band names ['flag']",
        "x_sin (no x_cos)",
        "dynamic band 'a' has 1 infinite value",
        "binary dynamic band 'flag'",
    ):
        assert words in text, text


def test_validate_reports_dynamic_structure_problems():
    ev = synthetic_event(steps=4, dynamic=True)
    with pytest.raises(EventValidationError, match=r"dynamic has dims \('dband', 'time', 'y', 'x'\)"):
        emberxr.validate(ev.assign({DYNAMIC: ev[DYNAMIC].transpose(DBAND, "time", "y", "x")}))
    with pytest.raises(EventValidationError, match="dynamic has dtype int32"):
        emberxr.validate(ev.assign({DYNAMIC: ev[DYNAMIC].fillna(0).astype(np.int32)}))
    with pytest.raises(EventValidationError, match="unknown dynamic band kind"):
        emberxr.validate(ev.assign_coords({DBAND_KIND: (DBAND, ["continuous"] * 3 + ["ordinal"])}))
    with pytest.raises(EventValidationError, match="fire_kind is 'burning'"):
        emberxr.validate(ev.assign_attrs(fire_kind="burning"))
    emberxr.validate(ev.assign_attrs(fire_kind="active"))


def test_validate_reports_a_dynamic_grid_that_differs_from_the_fire_grid():
    ev = synthetic_event(steps=4, dynamic=True)
    moved = ev.drop_vars(DYNAMIC).assign(
        {DYNAMIC: (("time", DBAND, "lat", "lon"), np.zeros((4, 4, 32, 40), np.float32))}
    )
    with pytest.raises(EventValidationError, match="dynamic uses spatial dims"):
        emberxr.validate(moved)


# -- zarr ----------------------------------------------------------------------------------------
def test_dynamic_bands_round_trip_through_an_event_store(tmp_path):
    ev = synthetic_event(steps=5, dynamic=True, event_id="dyn-1")
    emberxr.save_events([ev, synthetic_event(event_id="plain")], tmp_path / "events.zarr")
    back = emberxr.open_event(tmp_path / "events.zarr", event_id="dyn-1")
    assert hasattr(back[DYNAMIC].data, "__dask_graph__")  # lazy
    xr.testing.assert_identical(back.load(), ev)
    plain = emberxr.open_event(tmp_path / "events.zarr", event_id="plain")
    assert DYNAMIC not in plain and DBAND not in plain.coords


# -- normalisation -------------------------------------------------------------------------------
def test_dynamic_stats_pool_valid_pixels_and_times_leaving_missing_values_out():
    evs = synthetic_events(3, dynamic=True, invalid_border=4)
    stats = compute_stats(evs)
    assert stats.dynamic_names == ["tmax", "wind_dir_sin", "wind_dir_cos", "landcover"]
    pooled = np.concatenate(
        [ev[DYNAMIC].sel({DBAND: "tmax"}).values[:, ev.valid.values].ravel() for ev in evs]
    ).astype(np.float64)
    assert np.isnan(pooled).any()
    pooled = pooled[np.isfinite(pooled)]
    assert stats.dynamic_mean[0] == pytest.approx(pooled.mean(), rel=1e-9)
    assert stats.dynamic_std[0] == pytest.approx(pooled.std(), rel=1e-9)
    assert stats.dynamic_categories == {"landcover": [1, 2, 5]}
    assert stats.n_dynamic == 3 + 3
    assert stats.dynamic_feature_names[-3:] == ["landcover=1", "landcover=2", "landcover=5"]


def test_direction_pairs_share_one_scale_without_a_mean_shift():
    evs = synthetic_events(4, dynamic=True)  # winds from 270, 180, 90, 0 degrees
    stats = compute_stats(evs)
    i, j = stats.dynamic_names.index("wind_dir_sin"), stats.dynamic_names.index("wind_dir_cos")
    assert stats.dynamic_mean[i] == stats.dynamic_mean[j] == 0.0
    # sin² + cos² = 1 everywhere, so the RMS of the two components is sqrt(1/2)
    assert stats.dynamic_std[i] == stats.dynamic_std[j] == pytest.approx(math.sqrt(0.5), rel=1e-6)


def test_transform_dynamic_imputes_the_mean_and_one_hot_encodes_categories():
    ev = synthetic_event(steps=4, dynamic=True)
    stats = compute_stats([ev])
    raw = ev[DYNAMIC].values
    feats = stats.transform_dynamic(raw)
    assert feats.shape == (4, 6, 32, 40) and feats.dtype == np.float32 and np.isfinite(feats).all()
    # tmax: (x - mean) / std, and the missing block becomes 0 (the training mean)
    want = (raw[2, 0] - stats.dynamic_mean[0]) / stats.dynamic_std[0]
    np.testing.assert_allclose(feats[2, 0], want, rtol=1e-5, atol=1e-5)
    assert (feats[1, 0, :3, :3] == 0).all()
    # landcover one-hot: exactly one of the three channels is 1; an unseen code or NaN gives none
    assert (feats[:, 3:].sum(axis=1) == 1).all()
    raw2 = raw.copy()
    raw2[0, 3, 0, 0], raw2[0, 3, 0, 1] = 7.0, np.nan
    out = stats.transform_dynamic(raw2)
    assert (out[0, 3:, 0, :2] == 0).all()
    # a single step [C, H, W] works too
    np.testing.assert_array_equal(stats.transform_dynamic(raw[0]), feats[0])
    with pytest.raises(ValueError, match=r"expects \[..., C=4, H, W\]"):
        stats.transform_dynamic(raw[:, :2])


def test_norm_stats_dicts_round_trip_and_old_dicts_load_without_dynamic_bands():
    stats = compute_stats(synthetic_events(2, dynamic=True))
    d = stats.to_dict()
    assert NormStats.from_dict(d) == stats
    plain = compute_stats(synthetic_events(2))
    old = plain.to_dict()
    assert not any(k.startswith("dynamic") for k in old)  # unchanged layout without dynamic bands
    back = NormStats.from_dict(old)
    assert back.n_dynamic == 0 and back.dynamic_names == [] and back == plain
    with pytest.raises(ValueError, match="categorical dynamic band 'lc' has no vocabulary"):
        NormStats(["a"], ["continuous"], dynamic_names=["lc"], dynamic_kinds=["categorical"])


def test_training_events_must_share_their_dynamic_bands():
    with pytest.raises(EventValidationError, match="dynamic bands"):
        compute_stats([synthetic_event(dynamic=True), synthetic_event(seed=1)])


def test_check_compatible_names_missing_extra_reordered_and_rekinded_dynamic_bands():
    ev = synthetic_event(steps=4, dynamic=True)
    stats = compute_stats([ev])
    stats.check_compatible(ev)
    with pytest.raises(EventValidationError, match=r"dynamic bands missing from the event: \['tmax'"):
        stats.check_compatible(synthetic_event(steps=4))
    with pytest.raises(EventValidationError, match="trained without dynamic bands"):
        compute_stats([synthetic_event(steps=4)]).check_compatible(ev)
    swapped = ev.isel({DBAND: [1, 0, 2, 3]})
    with pytest.raises(EventValidationError, match="dynamic bands are in order"):
        stats.check_compatible(swapped)
    rekinded = ev.assign_coords({DBAND_KIND: (DBAND, ["continuous"] * 4)})
    with pytest.raises(EventValidationError, match="landcover: continuous"):
        stats.check_compatible(rekinded)


def test_identity_stats_take_the_dynamic_vocabulary_from_the_event():
    stats = identity_stats(synthetic_event(steps=3, dynamic=True))
    assert stats.dynamic_categories == {"landcover": [1, 2, 5]}
    assert stats.dynamic_mean == [0.0] * 4 and stats.dynamic_std == [1.0] * 4
