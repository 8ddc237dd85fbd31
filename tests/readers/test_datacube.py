"""The ``datacube`` reader: windows of a zarr datacube as FireEvents."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import yaml

import emberxr
from emberxr.errors import ConfigError, ReaderError
from emberxr.readers.datacube import DatacubeReader

WINDOW = {"id": "w1", "time": ["2021-08-01", "2021-08-08"], "x": [5600000, 5625000], "y": [2100000, 2075000]}
OPTIONS = {
    "fire": {"variable": "burned_areas", "threshold": 0},
    "static": {"dem": "elevation", "slope": "slope", "aspect": "aspect"},
    "dynamic": ["t2m", "ndvi", "wind_direction"],
    "angles": ["aspect", "wind_direction"],
    "wind": {"speed": "wind_speed", "direction": "wind_direction"},
    "events": [WINDOW],
}


def _cube(path):
    return xr.open_zarr(path)


def test_a_window_becomes_a_lazy_event_with_the_band_mapping(cube_path):
    ev = emberxr.open_event(cube_path, reader="datacube", **OPTIONS)
    assert ev.fire.chunks is not None and ev.dynamic.chunks is not None
    cube = _cube(cube_path).sel(
        time=slice("2021-08-01", "2021-08-08"), y=slice(2100000, 2075000), x=slice(5600000, 5625000)
    )
    assert ev.sizes["time"] == 8 and (ev.sizes["y"], ev.sizes["x"]) == (25, 25)
    assert list(ev.band.values) == ["elevation", "slope", "aspect_sin", "aspect_cos"]
    assert list(ev.dband.values) == ["t2m", "ndvi", "wind_direction_sin", "wind_direction_cos"]
    np.testing.assert_array_equal(ev.static.sel(band="elevation").values, cube.dem.values)
    np.testing.assert_allclose(
        ev.static.sel(band="aspect_cos").values, np.cos(np.deg2rad(cube.aspect.values)), atol=1e-6
    )
    np.testing.assert_array_equal(ev.dynamic.sel(dband="t2m").values, cube.t2m.values)
    assert np.isnan(ev.dynamic.sel(dband="ndvi").values[2]).all()  # a missing day stays NaN
    assert ev.rio.crs.to_epsg() == 3035
    np.testing.assert_array_equal(ev.x.values, cube.x.values)


def test_fire_is_binarised_cumulative_or_active(cube_path):
    raw = (
        _cube(cube_path)
        .burned_areas.sel(
            time=slice("2021-08-01", "2021-08-08"), y=slice(2100000, 2075000), x=slice(5600000, 5625000)
        )
        .values
    )
    daily = np.nan_to_num(raw) > 0
    ev = emberxr.open_event(cube_path, reader="datacube", **OPTIONS).load()
    np.testing.assert_array_equal(ev.fire.values, np.maximum.accumulate(daily, axis=0).astype(np.uint8))
    active = emberxr.open_event(
        cube_path, reader="datacube", **{**OPTIONS, "fire": {"variable": "burned_areas", "kind": "active"}}
    )
    np.testing.assert_array_equal(active.fire.values, daily.astype(np.uint8))
    assert active.attrs["fire_kind"] == "active" and ev.attrs["fire_kind"] == "cumulative"
    # cells where the fire variable has no value are outside the footprint
    np.testing.assert_array_equal(ev.valid.values, np.isfinite(raw).all(axis=0))
    strict = emberxr.open_event(
        cube_path,
        reader="datacube",
        **{**OPTIONS, "fire": {"variable": "burned_areas", "threshold": 5}},
        validate=False,
    )
    assert int(strict.fire.sum()) == 0


def test_wind_from_speed_and_direction_or_none(cube_path):
    cube = _cube(cube_path).sel(
        time=slice("2021-08-01", "2021-08-08"), y=slice(2100000, 2075000), x=slice(5600000, 5625000)
    )
    ev = emberxr.open_event(cube_path, reader="datacube", **OPTIONS)
    u, v = emberxr.schema.wind_uv_from_speed_dir(cube.wind_speed.values, cube.wind_direction.values)
    np.testing.assert_allclose(ev.wind_u.values, u, atol=1e-5)
    np.testing.assert_allclose(ev.wind_v.values, v, atol=1e-5)
    calm = emberxr.open_event(cube_path, reader="datacube", **{**OPTIONS, "wind": None})
    assert float(abs(calm.wind_u).max()) == 0.0 and "none" in calm.attrs["wind_source"]


def test_a_geographic_cube_is_reprojected_lazily(geo_cube_path):
    window = {"id": "g", "time": ["2021-08-01", "2021-08-08"], "x": [23.0, 23.3], "y": [38.9, 38.6]}
    opts = {**OPTIONS, "events": [window], "reproject": {"crs": "EPSG:3035", "resolution": 1000}}
    ev = emberxr.open_event(geo_cube_path, reader="datacube", **opts)
    assert ev.rio.crs.to_epsg() == 3035 and ev.fire.chunks is not None
    assert abs(float(ev.x[1] - ev.x[0]) - 1000) < 1e-6 and ev.attrs["reprojected_from"] == "EPSG:4326"
    assert int(ev.fire.isel(time=-1).sum()) > 20  # the fire survives nearest-neighbour resampling
    with pytest.raises(ReaderError, match=r"geographic CRS EPSG:4326.*reproject"):
        emberxr.open_event(geo_cube_path, reader="datacube", **{**opts, "reproject": None})


def test_bad_options_list_every_problem_with_fixes(cube_path):
    bad = {**OPTIONS, "fire": {"variabel": "burned_areas"}, "wind": {"speed": "wind_speed"}, "colour": 1}
    with pytest.raises(ConfigError) as info:
        emberxr.open_event(cube_path, reader="datacube", **bad)
    msg = str(info.value)
    assert "did you mean 'variable'" in msg and "'colour'" in msg and "3 problem(s)" in msg
    with pytest.raises(ReaderError, match="no variable\\(s\\) nope"):
        emberxr.open_event(cube_path, reader="datacube", **{**OPTIONS, "dynamic": ["nope"]})
    with pytest.raises(ReaderError, match="selects no cell"):
        emberxr.open_event(cube_path, reader="datacube", **{**OPTIONS, "events": [{**WINDOW, "x": [0, 10]}]})
    with pytest.raises(ReaderError, match="has no time dimension"):
        emberxr.open_event(cube_path, reader="datacube", **{**OPTIONS, "dynamic": ["dem"]})


def test_a_datacube_catalog_yields_its_windows_by_split(cube_path, tmp_path, monkeypatch):
    second = {**WINDOW, "id": "w2", "x": [5620000, 5647000], "y": [2080000, 2061000]}
    spec = {
        "name": "cube-test",
        "reader": "datacube",
        "path": "${CUBE_ROOT}/cube.zarr",
        "reader_options": {**OPTIONS, "events": [WINDOW, second]},
        "splits": {"train": ["w1"], "test": ["w2"]},
        "download": "write it with emberxr.testing.public.write_datacube",
    }
    yml = tmp_path / "cube-test.yaml"
    yml.write_text(yaml.safe_dump(spec))
    monkeypatch.delenv("CUBE_ROOT", raising=False)
    with pytest.raises(emberxr.errors.CatalogError, match=r"CUBE_ROOT is not set.*write_datacube"):
        emberxr.open_catalog(yml)
    monkeypatch.setenv("CUBE_ROOT", str(cube_path.parent))
    cat = emberxr.open_catalog(yml)
    assert cat.event_ids("train") == ["w1"] and cat.event_ids("test") == ["w2"]
    (ev,) = cat.events("test")
    assert ev.attrs["event_id"] == "w2" and int(ev.fire.sum()) > 0
    assert DatacubeReader().list_events(cube_path, **spec["reader_options"]) == ["w1", "w2"]
