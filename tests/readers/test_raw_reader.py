"""The raw folder reader: round trip with write_raw_event, and every broken-file case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from PIL import Image

import emberxr
from emberxr.errors import ReaderError
from emberxr.readers.raw_reader import RawReader, write_raw_event


@pytest.fixture
def raw(tmp_path, make_synthetic_event):
    ev = make_synthetic_event(invalid_border=3)
    return ev, write_raw_event(ev, tmp_path / "fire-a")


def test_layout_written(raw):
    _, folder = raw
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "arrival_time.tif",
        "event.json",
        "fire",
        "targets",
        "terrain.tif",
        "valid.png",
        "wind.csv",
    ]
    assert len(list((folder / "fire").glob("*.png"))) == 8
    assert len(list((folder / "targets").glob("*.png"))) == 7
    with rasterio.open(folder / "terrain.tif") as src:
        assert src.descriptions == ("elevation", "slope", "fuel_model", "water")
        assert src.tags(3)["kind"] == "categorical"


def test_round_trip_is_identical(raw):
    ev, folder = raw
    back = emberxr.open_event(folder)  # reader guessed
    xr.testing.assert_identical(back, ev)
    assert back.rio.crs == ev.rio.crs and back.rio.transform() == ev.rio.transform()


def test_fire_from_targets_gives_the_same_series(raw):
    ev, folder = raw
    back = emberxr.open_event(folder, reader="raw", fire_from="targets")
    np.testing.assert_array_equal(back.fire.values, ev.fire.values)
    with pytest.raises(ReaderError, match="fire_from"):
        RawReader().open(folder, fire_from="isochrones")


def test_band_kinds_detected_without_tags(raw):
    _ev, folder = raw
    with rasterio.open(folder / "terrain.tif", "r+") as dst:
        for i in range(1, 5):
            dst.update_tags(i, kind="")
    back = RawReader().open(folder)
    kinds = dict(zip(back.band.values.tolist(), back.band_kind.values.tolist()))
    # fuel_model by name, water by its 0/1 values, the rest continuous
    assert kinds == {
        "elevation": "continuous",
        "slope": "continuous",
        "fuel_model": "categorical",
        "water": "binary",
    }
    back = RawReader().open(folder, categorical=["slope"])
    assert back.band_kind.values.tolist()[1] == "categorical"


def test_fire_band_selects_a_png_channel(raw):
    ev, folder = raw
    for f in sorted((folder / "fire").glob("*.png")):
        mask = np.asarray(Image.open(f))
        rgb = np.zeros((*mask.shape, 3), np.uint8)
        rgb[..., 0] = 255 - mask  # red channel: the complement (noise)
        rgb[..., 2] = mask  # blue channel: the fire
        Image.fromarray(rgb).save(f)
    back = RawReader().open(folder, fire_band=2)
    np.testing.assert_array_equal(back.fire.values, ev.fire.values)
    with pytest.raises(ReaderError, match="fire_band=3 does not exist"):
        RawReader().open(folder, fire_band=3)


def test_speed_direction_wind_csv(raw):
    _ev, folder = raw
    times = pd.read_csv(folder / "wind.csv")["time"]
    pd.DataFrame({"time": times, "speed": 5.0, "direction": 270.0}).to_csv(folder / "wind.csv", index=False)
    back = RawReader().open(folder)
    np.testing.assert_allclose(back.wind_u.values, 5.0, rtol=1e-6)  # from the west: blowing east
    np.testing.assert_allclose(back.wind_v.values, 0.0, atol=1e-5)


def test_corrupted_geotiff(raw):
    _, folder = raw
    data = (folder / "terrain.tif").read_bytes()
    (folder / "terrain.tif").write_bytes(data[:200] + b"\x00garbage" * 50)
    with pytest.raises(ReaderError, match=r"terrain\.tif could not be read as a GeoTIFF"):
        emberxr.open_event(folder, reader="raw")


def test_geotiff_without_crs(raw):
    _, folder = raw
    with rasterio.open(folder / "terrain.tif") as src:
        data, profile, descs = src.read(), src.profile, src.descriptions
    profile["crs"] = None
    with rasterio.open(folder / "terrain.tif", "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = descs
    with pytest.raises(ReaderError, match="has no CRS"):
        RawReader().open(folder)


def test_fire_png_of_the_wrong_size(raw):
    _, folder = raw
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(folder / "fire" / "0003.png")
    with pytest.raises(ReaderError) as info:
        RawReader().open(folder)
    msg = str(info.value)
    assert "0003.png is 30×40" in msg and "terrain.tif is 32×40" in msg


def test_corrupted_png(raw):
    _, folder = raw
    (folder / "fire" / "0002.png").write_bytes(b"not a png")
    with pytest.raises(ReaderError, match=r"0002\.png could not be read as a PNG"):
        RawReader().open(folder)


def test_wind_csv_with_a_missing_column(raw):
    _, folder = raw
    df = pd.read_csv(folder / "wind.csv").drop(columns="v")
    df.to_csv(folder / "wind.csv", index=False)
    with pytest.raises(ReaderError) as info:
        RawReader().open(folder)
    assert "lacks column(s) v" in str(info.value) and "found: time, u" in str(info.value)


def test_wind_csv_with_wrong_row_count(raw):
    _, folder = raw
    pd.read_csv(folder / "wind.csv").iloc[:5].to_csv(folder / "wind.csv", index=False)
    with pytest.raises(ReaderError, match=r"5 row\(s\) but there are 8 fire frame"):
        RawReader().open(folder)


def test_wrong_number_of_targets(raw):
    _, folder = raw
    (folder / "targets" / "0006.png").unlink()
    with pytest.raises(ReaderError, match=r"6 mask\(s\) but .* has 8 frame"):
        RawReader().open(folder)


def test_missing_files_and_guess(raw, tmp_path):
    _, folder = raw
    assert RawReader().guess_can_open(folder)
    assert not RawReader().guess_can_open(tmp_path)
    (folder / "wind.csv").unlink()
    with pytest.raises(ReaderError, match=r"missing wind\.csv"):
        RawReader().open(folder)


def test_without_valid_png_the_footprint_comes_from_terrain_nodata(raw):
    ev, folder = raw
    (folder / "valid.png").unlink()
    with rasterio.open(folder / "terrain.tif", "r+") as dst:
        a = dst.read(1)
        a[:, -3:] = np.nan
        dst.write(a, 1)
    back = RawReader().open(folder)
    np.testing.assert_array_equal(back.valid.values, ev.valid.values)


def test_terrain_nodata_value_reads_as_nan(raw):
    _, folder = raw
    with rasterio.open(folder / "terrain.tif") as src:
        data, profile, descs = src.read(), src.profile, src.descriptions
        tags = [src.tags(i + 1) for i in range(src.count)]
    data = np.nan_to_num(data, nan=0.0)
    data[0, :2, :2] = -9999.0
    profile.update(dtype="int16", nodata=-9999)
    with rasterio.open(folder / "terrain.tif", "w", **profile) as dst:
        dst.write(data.astype(np.int16))
        for i, (d, t) in enumerate(zip(descs, tags), 1):
            dst.set_band_description(i, d)
            dst.update_tags(i, **t)
    back = RawReader().open(folder)
    assert back.static.dtype == np.float32
    elev = back.static.sel(band="elevation").values
    assert np.isnan(elev[:2, :2]).all() and np.isfinite(elev[2:, 2:]).all()
    assert elev[5, 5] == data.astype(np.int16)[0, 5, 5] != 0
