"""Real terrain: a DEM GeoTIFF (any CRS) reprojected to a UTM grid, windows of it, clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from emberxr.errors import ReaderError
from emberxr.simulate import dem as demmod
from emberxr.simulate.dem import check_dem, dem_window, draw_dem_window, utm_crs_for, utm_dem


def _write_dem(path, *, crs="EPSG:4326", west=10.0, north=46.0, step=0.001, shape=(120, 150), nodata=None):
    """A DEM rising 2 m per cell to the east and 1 m per cell to the south."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    z = (500.0 + 2.0 * cols + 1.0 * rows).astype(np.float32)
    if nodata is not None:
        z[:10, :] = nodata
    profile = {
        "driver": "GTiff", "height": shape[0], "width": shape[1], "count": 1, "dtype": "float32",
        "transform": from_origin(west, north, step, step),
    }  # fmt: skip
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z, 1)
    return path


def test_geotiff_is_reprojected_to_the_utm_zone_of_its_centre(tmp_path):
    path = _write_dem(tmp_path / "alps.tif")  # 10.0-10.15 E, 45.88-46.0 N: UTM zone 32N
    d = utm_dem(path, 30.0)
    assert d.crs == "EPSG:32632" and d.cell_size == 30.0
    assert d.x0 % 30 == 0 and d.y0 % 30 == 0  # grid aligned to the cell size
    z = d.elevation
    ok = np.isfinite(z)
    assert ok.mean() > 0.8  # the rotated footprint leaves NaN corners only
    # ~0.001 deg is ~77 m east and ~111 m north: 150 x 120 cells become about 385 x 445 of 30 m
    assert 370 <= d.shape[1] <= 400 and 430 <= d.shape[0] <= 460
    mid = z[d.shape[0] // 2]
    east = mid[np.isfinite(mid)]
    assert east[-1] - east[0] > 250  # still rises towards the east (2 m per 77 m)
    assert 500 - 1 <= np.nanmin(z) and np.nanmax(z) <= 500 + 2 * 149 + 119 + 1
    # the reprojected grid lies where the source does
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(d.crs, "EPSG:4326", always_xy=True).transform(d.x0, d.y0)
    assert abs(lon - 10.0) < 0.01 and abs(lat - 46.0) < 0.01


def test_projected_and_southern_dems(tmp_path):
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(151.2, -33.9)
    path = _write_dem(tmp_path / "sydney.tif", crs="EPSG:3857", west=x, north=y, step=100.0, shape=(60, 60))
    d = utm_dem(path, 50.0)
    assert d.crs == "EPSG:32756"  # southern hemisphere: 327xx
    assert utm_crs_for(-84.25, 36.6) == "EPSG:32616"


def test_windows_of_the_dem_are_gap_free_and_reproducible(tmp_path):
    path = _write_dem(tmp_path / "dem.tif", nodata=-9999.0)
    w = draw_dem_window(np.random.default_rng(0), path, 64, 30.0)
    assert w["source"] == "file" and w["crs"] == "EPSG:32632" and len(w["sha256"]) == 64
    z, x0, y0, crs = dem_window(w, 64, 30.0)
    assert z.shape == (64, 64) and np.isfinite(z).all() and z.min() > 400  # never the nodata rows
    d = utm_dem(path, 30.0)
    assert x0 == d.x0 + 30.0 * w["col"] and y0 == d.y0 - 30.0 * w["row"] and crs == d.crs
    assert w == draw_dem_window(np.random.default_rng(0), path, 64, 30.0)


def test_wide_event_on_a_user_dem(tmp_path):
    from emberxr.simulate.scenario import draw_wide_event

    path = _write_dem(tmp_path / "dem.tif")
    p, land = draw_wide_event(1, 0, size=48, real_share=1.0, dem=str(path))
    t = p["landscape"]["terrain"]
    assert t["kind"] == "real" and t["path"] == str(path.resolve()) and p["crs"] == "EPSG:32632"
    z, x0, y0, _crs = dem_window(t, 48, 30.0)
    assert np.allclose(land.elevation, np.round(z), atol=0.5)  # the landscape stands on the DEM
    assert (p["x0"], p["y0"]) == (x0, y0)
    # regeneration refuses a DEM that changed since
    _write_dem(path, shape=(130, 150))
    with pytest.raises(ReaderError, match="different file now"):
        dem_window(t, 48, 30.0)


def test_bad_dems_are_refused_with_a_fix(tmp_path):
    with pytest.raises(ReaderError, match="has no CRS") as info:
        utm_dem(_write_dem(tmp_path / "nocrs.tif", crs=None), 30.0)
    assert "gdal_edit.py -a_srs" in str(info.value)
    small = _write_dem(tmp_path / "small.tif", shape=(20, 20))
    with pytest.raises(ReaderError, match="too small") as info:
        check_dem(small, 128, 30.0)
    assert "smaller --size" in str(info.value)
    with pytest.raises(ReaderError, match="does not exist"):
        utm_dem(tmp_path / "absent.tif", 30.0)
    junk = tmp_path / "junk.tif"
    junk.write_text("not a raster")
    with pytest.raises(ReaderError, match="not a readable raster"):
        utm_dem(junk, 30.0)


def test_generation_refuses_a_bad_dem_before_simulating(tmp_path):
    from emberxr.errors import ConfigError
    from emberxr.simulate.generate import generate_collection

    with pytest.raises(ConfigError, match="has no CRS"):
        generate_collection(
            tmp_path / "x.zarr", n_events=2, seed=1, size=32, params_version=2,
            dem=str(_write_dem(tmp_path / "nocrs.tif", crs=None)), real_share=1.0,
        )  # fmt: skip
    assert not (tmp_path / "x.zarr").exists()


def test_jacksboro_is_placed_in_utm_16n():
    d = utm_dem(demmod.JACKSBORO, 30.0)
    assert d.crs == "EPSG:32616"
    # the DEM spans 84.41-84.08 W, 36.45-36.73 N: eastings ~0.73-0.77 Mm, northings ~4.03-4.07 Mm
    assert 725_000 < d.x0 < 735_000 and 4_065_000 < d.y0 < 4_072_000
    assert 236 <= np.nanmin(d.elevation) and np.nanmax(d.elevation) <= 1076
