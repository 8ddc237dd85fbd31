"""Readers read lazily: an opened event is Dask-backed, no pixel is read before compute, and a
folder rejected from its headers reads no pixel at all."""

from __future__ import annotations

import dask
import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from PIL import Image

import emberxr
from emberxr.errors import ReaderError
from emberxr.readers import raw_reader
from emberxr.readers.raw_reader import RawReader, write_raw_event
from emberxr.schema import make_event

SPATIAL = ("fire", "static", "valid", "arrival_time")


@pytest.fixture
def folder(tmp_path, make_synthetic_event):
    ev = make_synthetic_event(invalid_border=3)
    return ev, write_raw_event(ev, tmp_path / "fire-a")


@pytest.fixture
def decoded(monkeypatch):
    """Count PNG decodes and GeoTIFF pixel reads made through the raw reader."""
    calls = {"png": 0, "raster": 0}
    png, raster = raw_reader._png_channel, raw_reader._lazy_raster

    def counting_png(*a, **k):
        calls["png"] += 1
        return png(*a, **k)

    def counting_raster(path):
        arr = raster(path)

        def count(block):
            calls["raster"] += 1
            return block

        return arr.map_blocks(count, dtype=arr.dtype, meta=np.empty((0, 0, 0), arr.dtype))

    monkeypatch.setattr(raw_reader, "_png_channel", counting_png)
    monkeypatch.setattr(raw_reader, "_lazy_raster", counting_raster)
    return calls


def test_raw_event_is_dask_backed_and_nothing_is_read_before_compute(folder, decoded):
    ev, path = folder
    back = RawReader().open(path)  # every terrain band has a kind tag: no pass over the pixels
    for name in SPATIAL:
        assert isinstance(back[name].data, dsa.Array), name
    assert decoded == {"png": 0, "raster": 0}
    back = back.compute()
    assert decoded["png"] == 8 + 1  # every fire frame once, valid.png once
    assert decoded["raster"] >= 2  # terrain and arrival_time
    xr.testing.assert_identical(back, ev)


def test_untagged_bands_are_classified_in_one_pass_without_png_reads(folder, decoded):
    import rasterio

    _, path = folder
    with rasterio.open(path / "terrain.tif", "r+") as dst:
        for i in range(1, 5):
            dst.update_tags(i, kind="")
    back = RawReader().open(path)
    assert decoded["png"] == 0 and decoded["raster"] >= 1  # the terrain, to tell binary bands
    assert back.band_kind.values.tolist() == ["continuous", "continuous", "categorical", "binary"]
    assert isinstance(back.static.data, dsa.Array)


def test_a_folder_rejected_from_headers_reads_no_pixel(folder, decoded):
    _, path = folder
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(path / "fire" / "0002.png")
    with pytest.raises(ReaderError, match=r"0002\.png is 48×48 pixels"):
        emberxr.open_event(path)
    assert decoded == {"png": 0, "raster": 0}


def test_make_event_keeps_dask_arrays_lazy(make_synthetic_event):
    ev = make_synthetic_event()

    def never(shape, dtype):
        def fail():
            raise AssertionError("make_event computed a lazy array")

        return dsa.from_delayed(dask.delayed(fail)(), shape=shape, dtype=dtype)

    fire = never(ev.fire.shape, np.uint8)
    static = never(ev.static.shape, np.float32)
    valid = never(ev.valid.shape, bool)
    out = make_event(
        fire,
        static,
        ev.wind_u.values,
        ev.wind_v.values,
        times=ev.time.values,
        x=ev.x.values,
        y=ev.y.values,
        crs=ev.rio.crs,
        band_names=ev.band.values.tolist(),
        valid=valid,
        arrival_time=never(ev.arrival_time.shape, np.float32),
    )
    for name in SPATIAL:
        assert isinstance(out[name].data, dsa.Array), name
    assert out.fire.dtype == np.uint8 and out.valid.dtype == bool
    assert out.rio.transform() == ev.rio.transform()
