"""to_geotiff: tiled DEFLATE GeoTIFF and COG keeping CRS, transform, nodata and band names."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import xarray as xr

from emberxr.errors import WriteError
from emberxr.io import to_geotiff


def _prob(event, steps=3):
    """A (step, y, x) float prediction on the event grid, with NaN outside the footprint."""
    rng = np.random.default_rng(0)
    p = rng.random((steps, event.sizes["y"], event.sizes["x"])).astype(np.float32)
    p[:, :2, :3] = np.nan
    da = xr.DataArray(
        p,
        dims=("step", "y", "x"),
        coords={
            "step": np.arange(1, steps + 1),
            "y": event.y,
            "x": event.x,
            "spatial_ref": event.spatial_ref,
        },
        name="probability",
    )
    return da


def test_round_trip_keeps_crs_transform_values_and_descriptions(event, tmp_path):
    da = _prob(event)
    path = to_geotiff(da, tmp_path / "p.tif")
    with rasterio.open(path) as src:
        assert src.crs == event.rio.crs
        assert src.transform == event.rio.transform()
        assert src.count == 3 and src.dtypes[0] == "float32"
        assert src.descriptions == ("step=1", "step=2", "step=3")
        assert src.profile["tiled"] and src.profile["blockxsize"] == 256
        assert src.profile["compress"].lower() == "deflate"
        assert np.isnan(src.nodata)
        np.testing.assert_array_equal(src.read(), da.values)


def test_nodata_replaces_nan_and_band_descriptions_argument(event, tmp_path):
    da = _prob(event, steps=2)
    path = to_geotiff(da, tmp_path / "p.tif", nodata=-1.0, band_descriptions=["t+1", "t+2"])
    with rasterio.open(path) as src:
        assert src.nodata == -1.0
        assert src.descriptions == ("t+1", "t+2")
        a = src.read()
    assert (a[:, :2, :3] == -1).all()
    np.testing.assert_array_equal(a[:, 2:, 3:], da.values[:, 2:, 3:])


def test_static_bands_named_from_band_coordinate_and_bool_2d(event, tmp_path):
    with rasterio.open(to_geotiff(event.static, tmp_path / "s.tif")) as src:
        assert src.descriptions == ("elevation", "slope", "fuel_model", "water")
        np.testing.assert_array_equal(src.read(), event.static.values)
    with rasterio.open(to_geotiff(event.valid, tmp_path / "v.tif")) as src:
        assert src.count == 1 and src.dtypes[0] == "uint8" and src.descriptions == ("valid",)
        np.testing.assert_array_equal(src.read(1), event.valid.values.astype(np.uint8))


def test_dask_backed_array_is_written(event, tmp_path):
    da = event.fire.chunk({"time": 2, "y": 16, "x": 16})
    with rasterio.open(to_geotiff(da, tmp_path / "f.tif")) as src:
        np.testing.assert_array_equal(src.read(), event.fire.values)
        assert src.descriptions[0].startswith("2026-07-01T12:00:00")


def test_cog(event, make_synthetic_event, tmp_path):
    big = make_synthetic_event(height=300, width=320, steps=2)
    path = to_geotiff(big.static.isel(band=[0, 1]), tmp_path / "c.tif", cog=True)
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.crs == big.rio.crs and src.transform == big.rio.transform()
        assert src.overviews(1)  # 300x320 with 256 blocks gets an overview level
        assert src.descriptions == ("elevation", "slope")
        np.testing.assert_array_equal(src.read(), big.static.values[:2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.tif"]  # the intermediate GTiff is gone


def test_errors_are_named(event, tmp_path):
    da = _prob(event)
    with pytest.raises(WriteError, match="without a CRS"):
        to_geotiff(da.drop_vars("spatial_ref"), tmp_path / "a.tif")
    with pytest.raises(WriteError, match="lack 'y'"):
        to_geotiff(da.rename(y="row"), tmp_path / "a.tif")
    with pytest.raises(WriteError, match="2 names but the raster has 3"):
        to_geotiff(da, tmp_path / "a.tif", band_descriptions=["a", "b"])
    with pytest.raises(WriteError, match="4 dims"):
        to_geotiff(da.expand_dims(member=2), tmp_path / "a.tif")
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_leaves_old_file(event, tmp_path):
    path = tmp_path / "p.tif"
    to_geotiff(_prob(event), path)
    old = path.read_bytes()

    import dask
    import dask.array as dsa

    good = _prob(event)
    h, w = good.shape[1:]

    def band(i):
        if i == 2:  # the third band fails while the first two are already written
            raise RuntimeError("disk on fire")
        return good.values[i : i + 1]

    parts = [dsa.from_delayed(dask.delayed(band)(i), shape=(1, h, w), dtype=np.float32) for i in range(3)]
    failing = good.copy(data=dsa.concatenate(parts))
    with pytest.raises(RuntimeError, match="disk on fire"):
        to_geotiff(failing, path)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tif"]


@pytest.mark.parametrize("cog", [False, True])
def test_bands_are_gray_and_undefined_never_rgb_or_alpha(event, tmp_path, cog, tiff_tag):
    from rasterio.enums import ColorInterp

    mask = xr.zeros_like(event.fire.isel(time=slice(0, 4)), dtype=np.uint8).rename(time="step")
    mask = mask.assign_coords(step=[1, 2, 3, 4])
    path = to_geotiff(mask, tmp_path / "m.tif", cog=cog, nodata=255)
    assert tiff_tag(path, 262) == [1]  # PhotometricInterpretation = MINISBLACK, not RGB (2)
    assert tiff_tag(path, 338) == [0, 0, 0]  # ExtraSamples unspecified: no alpha band (1 or 2)
    with rasterio.open(path) as src:
        assert src.colorinterp == (ColorInterp.gray,) + (ColorInterp.undefined,) * 3
        assert src.nodata == 255 and src.count == 4


def _edges(big, dtype=np.float32, values=(0.02, 0.98)):
    """A (y, x) field of two values with sharp edges on a 300x320 grid (one overview level)."""
    a = np.full((big.sizes["y"], big.sizes["x"]), values[0], dtype)
    a[::7, :] = values[1]
    a[:, ::5] = values[1]
    return xr.DataArray(a, dims=("y", "x"), coords={"y": big.y, "x": big.x, "spatial_ref": big.spatial_ref})


def test_cog_overview_resampling_is_chosen_and_stays_in_range(make_synthetic_event, tmp_path):
    big = make_synthetic_event(height=300, width=320, steps=2)
    field = _edges(big)
    nearest = to_geotiff(field, tmp_path / "n.tif", cog=True)
    average = to_geotiff(field, tmp_path / "a.tif", cog=True, resampling="average")
    with rasterio.open(nearest, overview_level=0) as src:
        assert set(np.unique(src.read(1))) <= {np.float32(0.02), np.float32(0.98)}
    with rasterio.open(average, overview_level=0) as src:
        ov = src.read(1)
    assert src.width < 320 and 0.02 - 1e-6 <= ov.min() and ov.max() <= 0.98 + 1e-6
    assert len(np.unique(ov)) > 2  # really averaged
    with pytest.raises(WriteError, match=r"resampling='cubic'.*nearest, average, mode"):
        to_geotiff(field, tmp_path / "c.tif", cog=True, resampling="cubic")


@pytest.mark.parametrize("shape", [(1, 5), (4, 1), (1, 1)])
def test_grids_one_cell_wide_keep_their_stored_transform(tmp_path, shape):
    """1×N and 1×1 grids are legal: the cell size comes from the transform on spatial_ref."""
    from affine import Affine

    from emberxr.io.geotiff import to_geotiff

    y = 4_000_000 - 15 - 30 * np.arange(shape[0])
    x = 500_015 + 30 * np.arange(shape[1])
    da = xr.DataArray(np.ones(shape, np.float32), dims=("y", "x"), coords={"y": y, "x": x})
    da = da.rio.write_crs("EPSG:32611").rio.write_transform(Affine(30, 0, 500_000, 0, -30, 4_000_000))
    to_geotiff(da, tmp_path / "one.tif")
    with rasterio.open(tmp_path / "one.tif") as src:
        assert src.transform == Affine(30, 0, 500_000, 0, -30, 4_000_000) and src.shape == shape


def test_rotated_grid_keeps_its_stored_transform(tmp_path):
    """Cell centres cannot describe a rotated grid: the file gets the stored GeoTransform, not a
    north-up transform made from the centres (which would put the raster in the wrong place)."""
    from affine import Affine

    from emberxr.schema import transform_of

    rotated = Affine(30, 5, 500_000, 5, -30, 4_000_000)
    da = xr.DataArray(np.ones((3, 4), np.float32), dims=("y", "x"),
                      coords={"y": 4_000_000 - 15 - 30 * np.arange(3), "x": 500_015 + 30 * np.arange(4)})  # fmt: skip
    da = da.rio.write_crs("EPSG:32611").rio.write_transform(rotated)
    assert transform_of(da) == rotated
    to_geotiff(da, tmp_path / "rot.tif")
    with rasterio.open(tmp_path / "rot.tif") as src:
        assert src.transform == rotated
    # north-up: the transform comes from the cell centres, whatever a stale stored one says
    north_up = da.rio.write_transform(Affine(10, 0, 0, 0, -10, 0))
    assert transform_of(north_up) == Affine(30, 0, 500_000, 0, -30, 4_000_000)


def test_writer_caps_gdal_block_cache_while_open_and_restores_it(tmp_path):
    """GDAL keeps written blocks until its cache (5 % of memory by default) is full: a streamed
    8192² forecast held the whole file. The writer caps the cache while open, then restores it;
    a lower setting is left alone."""
    from rasterio.env import get_gdal_config, set_gdal_config
    from rasterio.transform import from_origin

    from emberxr.io.geotiff import GeoTiffWriter

    grid = dict(crs="EPSG:32610", transform=from_origin(0, 0, 30, 30), height=64, width=96)
    before = get_gdal_config("GDAL_CACHEMAX")
    try:
        set_gdal_config("GDAL_CACHEMAX", 512 * 2**20)
        with GeoTiffWriter(tmp_path / "a.tif", **grid) as out:
            assert int(get_gdal_config("GDAL_CACHEMAX")) == GeoTiffWriter.CACHE_BYTES
            out.write(np.ones((64, 48), np.float32), col=0)
            out.write(np.zeros((64, 48), np.float32), col=48)
        assert int(get_gdal_config("GDAL_CACHEMAX")) == 512 * 2**20
        set_gdal_config("GDAL_CACHEMAX", 16)  # megabytes: below the cap, kept
        with GeoTiffWriter(tmp_path / "b.tif", **grid):
            assert int(get_gdal_config("GDAL_CACHEMAX")) in (16, 16 * 2**20)
    finally:
        set_gdal_config("GDAL_CACHEMAX", before)
    with rasterio.open(tmp_path / "a.tif") as src:
        a = src.read(1)
    assert (a[:, :48] == 1).all() and (a[:, 48:] == 0).all()
