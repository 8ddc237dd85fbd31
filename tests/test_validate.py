"""emberxr.validate: one test per kind of bad input, each naming the problem in the message."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from emberxr.errors import EventValidationError
from emberxr.validate import event_problems, validate


def _problems(ev: xr.Dataset) -> list[str]:
    with pytest.raises(EventValidationError) as info:
        validate(ev)
    err = info.value
    assert str(err).count("fix:") == len(err.problems)  # every problem carries a fix
    return [p.what for p in err.problems]


def test_valid_event_passes_and_is_returned(event):
    assert validate(event) is event
    assert event_problems(event) == []


@pytest.mark.parametrize(
    "load_below,slab",
    [(0, 2**30), (0, 1), (2**30, 2**30)],
    ids=["one-slab", "slab-per-chunk-row", "load-small"],
)
def test_lazy_dask_event_is_validated(event, monkeypatch, load_below, slab):
    """A large lazy event is checked in slabs of chunk rows: the counts add up over the slabs (the
    wind, which has no rows, is counted once)."""
    import emberxr.validate as module

    monkeypatch.setattr(module, "_LOAD_BELOW_BYTES", load_below)
    monkeypatch.setattr(module, "_SLAB_BYTES", slab)
    lazy = event.chunk({"time": 2, "y": 8, "x": 16})
    assert validate(lazy) is lazy
    assert lazy.fire.chunks is not None  # not loaded in place
    if load_below == 0:
        assert len(module._slabs(lazy)) == (4 if slab == 1 else 1)
    bad = lazy.assign(fire=lazy.fire * 2)
    bad["static"] = bad.static.where(bad.x < bad.x[5])  # NaN inside the footprint
    bad["wind_u"] = bad.wind_u.where(bad.time != bad.time[1])
    probs = _problems(bad)
    assert any("other than 0 and 1" in p for p in probs)
    assert any("'elevation' has 1120 NaN value(s) inside the footprint" in p for p in probs)
    assert any("wind_u has 1 NaN value(s)" in p for p in probs)


def test_missing_crs(event):
    bad = event.drop_vars("spatial_ref")
    for v in bad.data_vars:
        bad[v].encoding.pop("grid_mapping", None)
    assert any("no CRS" in p for p in _problems(bad))


def test_static_grid_of_other_shape(event):
    st = event.static.values[:, :-2, :]
    bad = event.drop_vars("static").assign(static=(("band", "ys", "xs"), st))
    probs = _problems(bad)
    assert any("static grid has shape (30, 40)" in p and "(32, 40)" in p for p in probs)


def test_static_grid_with_other_transform(event):
    shifted = xr.DataArray(
        event.static.values,
        dims=("band", "ys", "xs"),
        coords={"ys": event.y.values + 15.0, "xs": event.x.values},
    )
    bad = event.drop_vars("static").assign(static=shifted)
    assert any("different transform" in p for p in _problems(bad))


def test_geotransform_that_disagrees_with_coordinates(event):
    bad = event.copy()
    bad["spatial_ref"] = bad.spatial_ref.copy()
    bad.spatial_ref.attrs["GeoTransform"] = "0 30 0 0 0 -30"
    assert any("GeoTransform" in p for p in _problems(bad))


def test_non_binary_fire(event):
    bad = event.copy(deep=True)
    bad["fire"][2, 3, 4] = 3
    probs = _problems(bad)
    assert any("fire has 1 value(s) other than 0 and 1" in p for p in probs)


def test_nan_fire(event):
    bad = event.assign(fire=event.fire.astype(np.float32))
    bad["fire"][0, 0, 0] = np.nan
    assert any("fire has 1 NaN" in p for p in _problems(bad))


def test_time_not_strictly_increasing(event):
    t = event.time.values.copy()
    t[3] = t[2]  # duplicate stamp
    assert any("not strictly increasing (at index 3)" in p for p in _problems(event.assign_coords(time=t)))
    swapped = event.assign_coords(time=event.time.values[[0, 2, 1, 3, 4, 5, 6, 7]])
    assert any("not strictly increasing" in p for p in _problems(swapped))


def test_time_must_be_datetime(event):
    bad = event.assign_coords(time=np.arange(event.sizes["time"]))
    assert any("expected datetime64" in p for p in _problems(bad))


def test_wind_series_of_other_length(event):
    bad = event.drop_vars("wind_u").assign(wind_u=(("wind_time",), np.zeros(5, np.float32)))
    assert any("wind_u has 5 values" in p and "8 time steps" in p for p in _problems(bad))


def test_fewer_than_two_time_steps(event):
    assert any("1 time step(s)" in p for p in _problems(event.isel(time=[-1])))


def test_no_burned_pixel(event):
    bad = event.assign(fire=event.fire * 0)
    assert any("no pixel is burned" in p for p in _problems(bad))


def test_burned_pixels_only_outside_footprint_count_as_none(event):
    valid = np.zeros(event.valid.shape, bool)
    valid[:2, :2] = True  # fire never reaches this corner
    assert event.fire.values[:, :2, :2].max() == 0
    bad = event.assign(valid=(("y", "x"), valid))
    assert any("no pixel is burned" in p for p in _problems(bad))


def test_unknown_band_kind(event):
    bad = event.assign_coords(band_kind=("band", ["continuous", "slopey", "categorical", "binary"]))
    probs = _problems(bad)
    assert any("unknown band kind(s): slope='slopey'" in p for p in probs)


def test_nan_static_inside_footprint_is_a_problem_outside_is_not(make_synthetic_event):
    ev = make_synthetic_event(invalid_border=4)
    outside = ev.copy(deep=True)
    outside["static"][0, :, -2:] = np.nan  # outside the footprint: allowed
    validate(outside)
    inside = ev.copy(deep=True)
    inside["static"][0, 5, 5] = np.nan
    inside["static"][2, 6, 6] = np.nan
    probs = _problems(inside)
    assert any("'elevation' has 1 NaN value(s) inside the footprint" in p for p in probs)
    assert any("'fuel_model' has 1 NaN" in p for p in probs)


def test_binary_and_categorical_band_values(event):
    bad = event.copy(deep=True)
    bad["static"][3, 0, 0] = 0.5  # water is binary
    bad["static"][2, 0, 0] = 101.5  # fuel_model is categorical
    probs = _problems(bad)
    assert any("binary band 'water'" in p for p in probs)
    assert any("categorical band 'fuel_model' has 1 non-integer" in p for p in probs)


def test_south_up_raster(event):
    assert any("y increases" in p for p in _problems(event.isel(y=slice(None, None, -1))))


def test_missing_variables_and_not_a_dataset(event):
    probs = _problems(event.drop_vars(["wind_v", "valid"]))
    assert any("'wind_v' is missing" in p for p in probs)
    assert any("'valid' is missing" in p for p in probs)
    with pytest.raises(EventValidationError, match=r"expected an xarray\.Dataset"):
        validate(event.fire)


def test_every_problem_is_listed_at_once(event):
    bad = event.drop_vars("spatial_ref").isel(time=[0])
    bad = bad.assign_coords(band_kind=("band", ["continuous", "weird", "categorical", "binary"]))
    bad = bad.assign(fire=bad.fire * 0)
    probs = _problems(bad)
    assert len(probs) >= 4
    text = "\n".join(probs)
    for needle in ("1 time step(s)", "no CRS", "unknown band kind", "no pixel is burned"):
        assert needle in text


def test_top_level_validate_works_after_the_submodule_is_imported(event):
    import emberxr
    import emberxr.validate  # binds the package attribute to the module

    assert emberxr.validate(event) is event
    with pytest.raises(EventValidationError, match="1 time step"):
        emberxr.validate(event.isel(time=[0]))


def test_make_event_lists_every_shape_mismatch(event):
    from emberxr.schema import make_event

    with pytest.raises(EventValidationError) as info:
        make_event(
            event.fire.values,
            event.static.values[:, :-2],
            np.zeros(5),
            event.wind_v.values,
            times=event.time.values,
            x=event.x.values,
            y=event.y.values,
            crs="EPSG:32611",
            band_names=["a", "b", "c"],
        )
    msg = str(info.value)
    assert "static grid has shape (30, 40), fire grid has shape (32, 40)" in msg
    assert "wind_u has shape (5,) but fire has 8 time steps" in msg
    assert "3 band name(s) for 4 static band(s)" in msg
