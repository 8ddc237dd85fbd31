"""The ``wildfirespreadts`` reader: GeoTIFF tree and HDF5 conversion of WildfireSpreadTS."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import rasterio

import emberxr
from emberxr.errors import NotGeoreferencedError, ReaderError
from emberxr.readers.wildfirespreadts import (
    BANDS,
    DYNAMIC_BANDS,
    STATIC_BANDS,
    WildfireSpreadTSReader,
    index_fires,
    open_fire,
)
from emberxr.schema import wind_uv_from_speed_dir
from emberxr.testing.public import write_wsts_tree

BY = {b.name: i for i, b in enumerate(BANDS)}


def _stack(folder):
    """The raw (T, 23, H, W) stack of a fire folder, read with rasterio directly."""
    out = []
    for f in sorted(folder.glob("*.tif")):
        with rasterio.open(f) as src:
            out.append(src.read())
    return np.stack(out)


def _first(root):
    return index_fires(root)[0]


def test_the_reader_is_registered_and_guesses_fire_folders(wsts_tree, wsts_h5):
    assert "wildfirespreadts" in emberxr.list_readers()
    fire = _first(wsts_tree).path
    assert emberxr.readers.guess_reader(fire) == "wildfirespreadts"
    assert emberxr.readers.guess_reader(next((wsts_h5 / "2018").glob("*.hdf5"))) == "wildfirespreadts"
    assert not WildfireSpreadTSReader().guess_can_open(wsts_tree)  # the root is not one fire


def test_index_lists_every_fire_by_year(wsts_tree):
    entries = index_fires(wsts_tree)
    assert [e.year for e in entries] == [2018, 2018, 2019, 2019]
    assert len({e.event_id for e in entries}) == 4
    r = WildfireSpreadTSReader()
    assert r.list_events(wsts_tree) == [e.event_id for e in entries]
    assert set(r.event_groups(wsts_tree).values()) == {2018, 2019}


def test_band_mapping_static_dynamic_and_kinds(wsts_tree):
    entry = _first(wsts_tree)
    ev = emberxr.open_event(entry.path)  # validated
    raw = _stack(entry.path)
    assert (
        list(ev.band.values)
        == list(STATIC_BANDS)
        == ["slope", "aspect_sin", "aspect_cos", "elevation", "landcover"]
    )
    assert dict(zip(ev.band.values, ev.band_kind.values))["landcover"] == "categorical"
    assert list(ev.dband.values) == list(DYNAMIC_BANDS)
    assert ev.sizes["time"] == 4 and ev.attrs["fire_kind"] == "active" and ev.attrs["year"] == 2018
    # static bands come from the first day, untouched
    np.testing.assert_array_equal(ev.static.sel(band="elevation").values, raw[0, BY["elevation"]])
    np.testing.assert_array_equal(ev.static.sel(band="landcover").values, raw[0, BY["landcover"]])
    assert set(np.unique(ev.static.sel(band="landcover").values)) <= set(range(1, 18))
    # dynamic bands keep their values per day, NaN (missing) included
    for name in ("M11", "NDVI", "energy_release_component", "pdsi", "forecast_temperature"):
        np.testing.assert_array_equal(ev.dynamic.sel(dband=name).values, raw[:, BY[name]])
    assert np.isnan(ev.dynamic.sel(dband="M11").values[:, 0, :3]).all()
    assert ev.dynamic.dtype == np.float32 and ev.dynamic.dims == ("time", "dband", "y", "x")


def test_angles_become_sin_cos_pairs(wsts_tree):
    entry = _first(wsts_tree)
    ev = open_fire(entry.path)
    raw = _stack(entry.path)
    for name, sel, arr in (
        ("aspect", "band", ev.static),
        ("wind_direction", "dband", ev.dynamic),
        ("forecast_wind_direction", "dband", ev.dynamic),
    ):
        deg = raw[0, BY[name]] if sel == "band" else raw[:, BY[name]]
        s = arr.sel({sel: f"{name}_sin"}).values
        c = arr.sel({sel: f"{name}_cos"}).values
        np.testing.assert_allclose(s, np.sin(np.deg2rad(deg)), atol=1e-6)
        np.testing.assert_allclose(c, np.cos(np.deg2rad(deg)), atol=1e-6)
        assert name not in [str(b) for b in arr[sel].values]  # no raw degrees reach a model


def test_active_fire_becomes_a_binary_mask_and_an_hour(wsts_tree):
    entry = _first(wsts_tree)
    ev = open_fire(entry.path)
    af = _stack(entry.path)[:, BY["active_fire"]]
    assert np.isnan(af).any() and np.nanmin(af) > 0  # hhmm, NaN where none
    np.testing.assert_array_equal(ev.fire.values, (np.nan_to_num(af) > 0).astype(np.uint8))
    assert ev.fire.dtype == np.uint8
    hour = ev.dynamic.sel(dband="active_fire_hour").values
    np.testing.assert_array_equal(hour, np.floor(np.nan_to_num(af) / 100))
    assert set(np.unique(hour)) <= {0.0, 1.0, 9.0, 10.0, 21.0}


def test_wind_components_come_from_speed_and_direction(wsts_tree):
    entry = _first(wsts_tree)
    ev = open_fire(entry.path)
    raw = _stack(entry.path)
    u, v = wind_uv_from_speed_dir(raw[:, BY["wind_speed"]], raw[:, BY["wind_direction"]])
    assert ev.wind_u.dims == ("time", "y", "x")
    np.testing.assert_allclose(ev.wind_u.values, u, atol=1e-5)
    np.testing.assert_allclose(ev.wind_v.values, v, atol=1e-5)


def test_events_are_lazy_and_georeferenced(wsts_tree):
    entry = _first(wsts_tree)
    ev = open_fire(entry.path)
    assert all(ev[v].chunks is not None for v in ("fire", "static", "dynamic", "wind_u", "valid"))
    with rasterio.open(next(entry.path.glob("*.tif"))) as src:
        assert ev.rio.crs == src.crs
        assert tuple(ev.rio.transform())[:6] == tuple(src.transform)[:6]


def test_hdf5_conversion_reads_the_same_event_without_a_crs(wsts_tree, wsts_h5, tmp_path):
    tif = open_fire(_first(wsts_tree).path).load()
    entry = _first(wsts_h5)
    assert entry.layout == "hdf5" and entry.event_id == _first(wsts_tree).event_id
    h5 = emberxr.open_event(entry.path).load()
    for var in ("fire", "static", "dynamic", "wind_u", "wind_v", "valid"):
        np.testing.assert_array_equal(h5[var].values, tif[var].values)
    np.testing.assert_array_equal(h5.time.values, tif.time.values)
    assert h5.rio.crs is None and "none" in h5.attrs["crs_status"]
    assert len(h5.attrs["lnglat"]) == 2
    with pytest.raises(NotGeoreferencedError, match="no CRS"):
        emberxr.io.to_geotiff(h5.fire.isel(time=0), tmp_path / "x.tif")


def test_forecasts_before_july_2015_are_missing(tmp_path):
    write_wsts_tree(tmp_path, years=(2015,), fires_per_year=1, days=3, start="06-29", size=(8, 8))
    ev = open_fire(index_fires(tmp_path)[0].path)
    fc = ev.dynamic.sel(dband="forecast_wind_speed").values
    assert np.isnan(fc[:2]).all() and np.isfinite(fc[2]).all()  # 06-29, 06-30 missing; 07-01 kept
    assert np.isfinite(ev.dynamic.sel(dband="wind_speed").values).all()


def test_a_duplicated_fire_is_an_error_naming_both_paths(wsts_tree, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(wsts_tree, root)
    first = _first(root)
    shutil.copytree(first.path, root / "2019" / first.event_id)
    with pytest.raises(ReaderError, match="duplicated fire") as info:
        index_fires(root)
    assert str(first.path) in str(info.value) and str(root / "2019" / first.event_id) in str(info.value)


def test_both_layouts_side_by_side_are_duplicates_unless_one_is_chosen(wsts_tree, wsts_h5, tmp_path):
    root = tmp_path / "mixed"
    shutil.copytree(wsts_tree, root)
    for f in wsts_h5.rglob("*.hdf5"):
        shutil.copy(f, root / f.parent.name / f.name)
    with pytest.raises(ReaderError, match="layout='geotiff'"):
        index_fires(root)
    assert {e.layout for e in index_fires(root, "hdf5")} == {"hdf5"}
    assert len(index_fires(root, "geotiff")) == 4


def test_days_that_do_not_share_a_grid_are_refused(wsts_tree, tmp_path):
    fire = tmp_path / "fire"
    shutil.copytree(_first(wsts_tree).path, fire)
    last = sorted(fire.glob("*.tif"))[-1]
    with rasterio.open(last) as src:
        data, profile = src.read()[:, :-1], src.profile
    profile.update(height=data.shape[1])
    last.unlink()
    with rasterio.open(last, "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(ReaderError, match="do not share one grid"):
        open_fire(fire)


def test_wrong_band_order_and_names_are_refused(wsts_tree, tmp_path):
    fire = tmp_path / "fire"
    shutil.copytree(_first(wsts_tree).path, fire)
    for f in fire.glob("*.tif"):
        with rasterio.open(f, "r+") as dst:
            dst.set_band_description(1, "elevation")
    with pytest.raises(ReaderError, match="band 1 is 'elevation'"):
        open_fire(fire)
    assert open_fire(fire, check_descriptions=False).sizes["time"] == 4
    (fire / "notes.tif").write_bytes(b"")
    with pytest.raises(ReaderError, match=r"YYYY-MM-DD\.tif"):
        open_fire(fire)


def test_a_geographic_crs_is_refused_with_a_fix(tmp_path):
    write_wsts_tree(tmp_path, years=(2018,), fires_per_year=1, days=2, size=(6, 6), epsg=4326)
    with pytest.raises(ReaderError, match="geographic CRS"):
        open_fire(index_fires(tmp_path)[0].path)


def test_catalog_hook_opens_and_validates_by_id(wsts_tree):
    r = WildfireSpreadTSReader()
    eid = r.list_events(wsts_tree)[-1]
    ev = r.open_catalog_event(wsts_tree, eid)
    assert ev.attrs["event_id"] == eid and ev.attrs["year"] == 2019
    with pytest.raises(ReaderError, match="Did you mean"):
        r.open_catalog_event(wsts_tree, eid[:-1] + "9")
