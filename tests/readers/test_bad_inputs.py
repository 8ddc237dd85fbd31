"""The bad-input corpus: every input that used to be misread in silence or to end in a dependency's
traceback, and the named error (or the right values) it gives now.

Each test builds its case from a small synthetic event written to disk, asserts the error type
AND that the message names the problem (file, row, variable ...), or, for inputs that must be
read, that the values read are the right ones.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from affine import Affine
from PIL import Image

import emberxr
from emberxr.cli import main as cli_main
from emberxr.data.check import data_check
from emberxr.errors import (
    CatalogError,
    CorruptStoreError,
    EmberxrError,
    NoReaderError,
    ReaderError,
)
from emberxr.readers.raw_reader import RawReader, write_raw_event
from emberxr.schema import make_event


@pytest.fixture
def raw(tmp_path, make_synthetic_event):
    ev = make_synthetic_event(invalid_border=3)
    return ev, write_raw_event(ev, tmp_path / "fire-a")


def _frames(folder, sub="fire"):
    return sorted((folder / sub).glob("*.png"))


def _message(excinfo) -> str:
    return str(excinfo.value)


# -- read right, not wrongly in silence ----------------------------------------------------------------
def test_palette_png_is_read_through_its_palette_not_its_indices(raw):
    """A palette mapping index 0 to white: burned (white) pixels are index 0. Reading indices
    (the old behaviour) inverted every mask."""
    ev, folder = raw
    palette = [255, 255, 255, 0, 0, 0] + [0] * (256 * 3 - 6)
    for sub in ("fire", "targets"):
        for f in _frames(folder, sub):
            burned = np.asarray(Image.open(f)) > 0
            im = Image.fromarray(np.where(burned, 0, 1).astype(np.uint8), mode="P")
            im.putpalette(palette)
            im.save(f)
            assert Image.open(f).mode == "P"
    back = RawReader().open(folder)
    np.testing.assert_array_equal(back.fire.values, ev.fire.values)


def test_palette_png_with_transparency_has_an_alpha_channel(raw):
    ev, folder = raw
    palette = [255, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6)  # both entries red: only alpha differs
    for f in _frames(folder):
        burned = np.asarray(Image.open(f)) > 0
        im = Image.fromarray(np.where(burned, 0, 1).astype(np.uint8), mode="P")
        im.putpalette(palette)
        im.save(f, transparency=1)  # index 1 (not burned) is fully transparent
    back = RawReader().open(folder, fire_band=3)
    np.testing.assert_array_equal(back.fire.values, ev.fire.values)
    with pytest.raises(ReaderError, match=r"0000\.png has 4 channel\(s\) \(mode P\); fire_band=4"):
        RawReader().open(folder, fire_band=4)


def test_frames_numbered_without_padding_are_read_in_numeric_order(tmp_path, make_synthetic_event):
    ev = make_synthetic_event(steps=12)
    folder = write_raw_event(ev, tmp_path / "ev")
    for sub in ("fire", "targets"):
        for f in _frames(folder, sub):
            f.rename(f.with_name(f"{int(f.stem) + 1}.png"))  # 1.png ... 12.png (lexical: 1, 10, 11, 12, 2)
    assert sorted(p.name for p in _frames(folder))[:3] == ["1.png", "10.png", "11.png"]
    back = emberxr.open_event(folder)
    np.testing.assert_array_equal(back.fire.values, ev.fire.values)
    assert not np.array_equal(ev.fire.values[1], ev.fire.values[9])  # the order matters


def test_frame_names_of_two_patterns_are_an_error(raw):
    _, folder = raw
    (folder / "fire" / "0003.png").rename(folder / "fire" / "frame_3.png")
    with pytest.raises(ReaderError) as info:
        RawReader().open(folder)
    msg = _message(info)
    assert "mixes frame names of 2 patterns" in msg and "frame_3.png" in msg and "0000.png" in msg


def test_two_frames_with_the_same_number_are_an_error(raw):
    _, folder = raw
    (folder / "fire" / "0003.png").rename(folder / "fire" / "3.png")
    shutil.copy(folder / "fire" / "3.png", folder / "fire" / "03.png")
    with pytest.raises(ReaderError, match=r"03\.png and 3\.png carry the same frame number"):
        RawReader().open(folder)


def _rewrite_arrival(folder, **changes):
    path = folder / "arrival_time.tif"
    with rasterio.open(path) as src:
        data, profile = src.read(1), src.profile
    profile.update(changes)
    if "height" in changes:
        data = data[: changes["height"]]
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def test_arrival_time_in_another_crs_is_an_error(raw):
    _, folder = raw
    _rewrite_arrival(folder, crs="EPSG:32612")
    with pytest.raises(ReaderError) as info:
        RawReader().open(folder)
    msg = _message(info)
    assert "arrival_time.tif is not on the terrain grid (CRS differ)" in msg
    assert "EPSG:32612" in msg and "EPSG:32611" in msg and "Fix: resample it onto the terrain grid" in msg


def test_arrival_time_shifted_is_an_error(raw):
    _, folder = raw
    with rasterio.open(folder / "arrival_time.tif") as src:
        t = src.transform
    _rewrite_arrival(folder, transform=Affine(t.a, 0, t.c + 15.0, 0, t.e, t.f))  # half a cell east
    with pytest.raises(ReaderError) as info:
        RawReader().open(folder)
    msg = _message(info)
    assert "(transform differ)" in msg and "origin (500015" in msg and "origin (500000" in msg


def test_arrival_time_of_another_size_says_how_to_fix_it(raw):
    _, folder = raw
    _rewrite_arrival(folder, height=30)
    with pytest.raises(ReaderError) as info:
        RawReader().open(folder)
    msg = _message(info)
    assert "(size differ)" in msg and "30×40 cells" in msg and "32×40 cells" in msg
    assert "Fix: resample it onto the terrain grid" in msg


def _store_with_chunks(tmp_path, events, **chunks):
    enc = {name: {"chunks": c} for name, c in chunks.items()}
    return emberxr.save_events(events, tmp_path / "ev.zarr", encoding=enc)


def _written_chunks(store, eid, var):
    return sorted(p for p in (store / eid / var / "c").rglob("*") if p.is_file())


def test_deleted_fire_chunk_is_an_error_naming_event_and_variable(tmp_path, events, capsys):
    store = _store_with_chunks(tmp_path, events[:2], fire=(2, 16, 20))
    xr.testing.assert_identical(emberxr.open_event(store, event_id="synthetic-1").load(), events[1])
    _written_chunks(store, "synthetic-1", "fire")[-1].unlink()
    for opener in (
        lambda: emberxr.open_event(store, event_id="synthetic-1"),
        lambda: emberxr.open_events(store),
        lambda: data_check(store),
    ):
        with pytest.raises(CorruptStoreError) as info:
            opener()
        msg = _message(info)
        assert "event 'synthetic-1': variable 'fire' lost 1 of" in msg and "synthetic-0" not in msg
    xr.testing.assert_identical(emberxr.open_event(store, event_id="synthetic-0").load(), events[0])
    assert cli_main(["data", "check", str(store)]) == 1
    err = capsys.readouterr().err
    assert "event 'synthetic-1': variable 'fire' lost" in err and "Traceback" not in err


def test_deleted_static_chunk_is_damage_not_missing_values(tmp_path, events, capsys):
    store = _store_with_chunks(tmp_path, events[:1], static=(1, 16, 20))
    _written_chunks(store, "synthetic-0", "static")[0].unlink()
    with pytest.raises(CorruptStoreError) as info:
        emberxr.open_event(store)
    msg = _message(info)
    assert "variable 'static' lost 1 of 16 written chunk(s)" in msg
    assert "band 0-0, y 0-15, x 0-19" in msg and "NaN value(s) inside the footprint" not in msg
    assert cli_main(["data", "check", str(store)]) == 1
    err = capsys.readouterr().err
    assert "event 'synthetic-0': variable 'static'" in err and "interpolate" not in err


def test_data_check_of_a_catalog_names_every_damaged_event(tmp_path, events, capsys):
    store = _store_with_chunks(tmp_path, events[:3], fire=(2, 16, 20))
    for eid in ("synthetic-0", "synthetic-2"):
        _written_chunks(store, eid, "fire")[0].unlink()
    (store / "synthetic-1" / "valid" / "zarr.json").write_text("{")
    cat = tmp_path / "cat.yaml"
    cat.write_text(
        "name: damaged\nreader: zarr\npath: ev.zarr\n"
        "splits: {train: [synthetic-0, synthetic-1], val: [synthetic-2]}\n"
    )
    assert cli_main(["data", "check", str(cat)]) == 1
    err = capsys.readouterr().err
    assert "3 problem(s)" in err and "event 'synthetic-0': variable 'fire' lost" in err
    assert "event 'synthetic-2': variable 'fire' lost" in err
    assert f"event 'synthetic-1': {store / 'synthetic-1' / 'valid' / 'zarr.json'} is not valid JSON" in err


def test_chunks_zarr_never_wrote_are_not_reported(tmp_path, make_synthetic_event):
    """Zarr skips chunks that hold only the fill value: they are absent from the start and the
    record says so (no false alarm), while a later loss is still caught."""
    ev = make_synthetic_event()
    store = _store_with_chunks(tmp_path, [ev], fire=(1, 8, 8))
    n_files = len(_written_chunks(store, "synthetic-0", "fire"))
    assert 0 < n_files < 8 * 4 * 5  # some chunks of early frames are all zero: never written
    xr.testing.assert_identical(emberxr.open_event(store).load(), ev)
    assert data_check(store).verified == 1
    _written_chunks(store, "synthetic-0", "fire")[0].unlink()
    with pytest.raises(CorruptStoreError, match=rf"variable 'fire' lost 1 of {n_files} written"):
        emberxr.open_event(store)


def test_truncated_array_metadata_names_the_file(tmp_path, events):
    store = emberxr.save_events(events[:1], tmp_path / "ev.zarr")
    meta = store / "synthetic-0" / "static" / "zarr.json"
    meta.write_text(meta.read_text()[:60])
    with pytest.raises(CorruptStoreError) as info:
        emberxr.open_event(store)
    assert f"{meta} is not valid JSON" in _message(info) and "truncated" in _message(info)


def test_truncated_root_metadata_names_the_file(tmp_path, events):
    store = emberxr.save_events(events[:2], tmp_path / "ev.zarr")
    (store / "zarr.json").write_text('{"zarr_format": 3, "node_')
    with pytest.raises(CorruptStoreError, match=rf"{store / 'zarr.json'} is not valid JSON"):
        emberxr.open_events(store)


def test_event_group_without_its_fire_array_is_reported(tmp_path, events):
    store = emberxr.save_events(events[:2], tmp_path / "ev.zarr")
    shutil.rmtree(store / "synthetic-1" / "fire")
    with pytest.raises(CorruptStoreError, match=r"event 'synthetic-1': variable 'fire' is missing"):
        emberxr.open_events(store)


def test_store_written_before_chunk_records_is_read_and_reported_unverified(tmp_path, events):
    import zarr

    store = emberxr.save_events(events[:2], tmp_path / "ev.zarr")
    for eid in ("synthetic-0", "synthetic-1"):
        g = zarr.open_group(store / eid, mode="r+", zarr_format=3)
        g.attrs.pop("emberxr_chunks")
    tree = emberxr.open_events(store)
    assert "emberxr_chunks" not in tree["synthetic-0"].attrs
    rep = data_check(store)
    assert rep.verified == 0 and rep.unverified == ["synthetic-0", "synthetic-1"]
    assert "2 event(s) have no record" in rep.to_markdown()


# -- named errors instead of tracebacks ---------------------------------------------------------------
def test_non_numeric_wind_names_row_and_column(raw):
    _, folder = raw
    df = pd.read_csv(folder / "wind.csv", dtype=str)
    df.loc[2, "u"] = "calm"
    df.loc[5, "v"] = ""
    df.to_csv(folder / "wind.csv", index=False)
    with pytest.raises(ReaderError) as info:
        RawReader().open(folder)
    msg = _message(info)
    assert "column 'u' has 1 value(s) that are not finite numbers (line 4: 'calm')" in msg
    assert "column 'v' has 1 value(s) that are not finite numbers (line 7: '')" in msg


def test_unparseable_wind_time_names_the_line(raw):
    _, folder = raw
    df = pd.read_csv(folder / "wind.csv", dtype=str)
    df.loc[1, "time"] = "yesterday noon"
    df.to_csv(folder / "wind.csv", index=False)
    with pytest.raises(
        ReaderError, match=r"1 time stamp\(s\) are not ISO 8601 dates \(line 3: 'yesterday noon'\)"
    ):
        RawReader().open(folder)


def test_event_json_holding_a_list(raw):
    _, folder = raw
    (folder / "event.json").write_text("[1, 2]")
    with pytest.raises(ReaderError, match=r"event\.json holds a JSON list, not an object"):
        emberxr.open_event(folder)


def test_event_json_with_bad_types_and_keys_lists_all(raw):
    _, folder = raw
    (folder / "event.json").write_text(
        json.dumps({"event_id": 7, "sourse": "x", "attrs": {"time_step_hours": "1h"}})
    )
    with pytest.raises(ReaderError) as info:
        emberxr.open_event(folder)
    msg = _message(info)
    assert "'event_id' is 7 (int)" in msg and "unknown key 'sourse'" in msg and "did you mean 'source'" in msg
    assert "attrs.time_step_hours is '1h'" in msg


def _one_cell_wide_event(height, width, transform):
    fire = np.zeros((2, height, width), np.uint8)
    fire[1, 0, 0] = 1
    x = transform.c + transform.a * (np.arange(width) + 0.5)
    y = transform.f + transform.e * (np.arange(height) + 0.5)
    return make_event(
        fire,
        {"elevation": np.full((height, width), 100.0)},
        np.ones(2),
        np.zeros(2),
        times=np.datetime64("2026-07-01T12:00") + np.arange(2) * np.timedelta64(1, "h"),
        x=x,
        y=y,
        crs="EPSG:32611",
        event_id="tiny",
        attrs={"time_step_hours": 1.0},
        transform=transform,
    )


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (4, 1)])
def test_one_cell_wide_terrains_are_accepted(tmp_path, shape):
    transform = Affine(30.0, 0, 500_000.0, 0, -20.0, 4_200_000.0)  # non-square cells
    ev = _one_cell_wide_event(*shape, transform)
    folder = write_raw_event(emberxr.validate(ev), tmp_path / "tiny")
    with rasterio.open(folder / "terrain.tif") as src:
        assert (src.height, src.width) == shape and src.transform == transform
    back = emberxr.open_event(folder)
    xr.testing.assert_identical(back, ev)
    assert back.rio.transform() == transform


def test_a_one_by_one_grid_needs_its_transform_and_a_wrong_one_is_named():
    from emberxr.errors import EventValidationError
    from emberxr.schema import grid_transform

    t = Affine(30.0, 0, 500_000.0, 0, -20.0, 4_200_000.0)
    ev = _one_cell_wide_event(1, 1, t)
    kwargs = {
        "times": ev.time.values,
        "x": ev.x.values,
        "y": ev.y.values,
        "crs": "EPSG:32611",
        "event_id": "tiny",
    }
    args = (ev.fire.values, ev.static.values, ev.wind_u.values, ev.wind_v.values)
    with pytest.raises(EventValidationError, match=r"1×1 grid has no cell size.*transform=<affine"):
        make_event(*args, **kwargs)
    with pytest.raises(EventValidationError, match="does not give the x/y cell centres"):
        make_event(*args, **kwargs, transform=t * Affine.translation(1, 0))
    # one row: the spacing of the other axis (square cells, north-up), documented
    assert grid_transform([15.0, 45.0, 75.0], [-15.0]) == Affine(30.0, 0, 0.0, 0, -30.0, 0.0)


def test_a_png_beyond_pillows_bomb_limit_is_rejected_from_its_header(raw):
    """A 157-byte PNG that declares 20000×20000 pixels: Pillow's DecompressionBombError used to
    escape; now the size is compared with the grid before anything is decoded."""
    _, folder = raw

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    (folder / "fire" / "0005.png").write_bytes(png)
    with pytest.raises(ReaderError) as info:
        emberxr.open_event(folder)
    assert "0005.png is 20000×20000 pixels (rows×cols) but terrain.tif is 32×40" in _message(info)


def test_a_png_beyond_pillows_bomb_limit_that_fits_the_grid_is_read(raw, monkeypatch):
    """The bomb guard is replaced by the grid check: an image as large as the event's grid is
    legitimate (here the limit is lowered so that the 32×40 frames exceed it)."""
    import PIL.Image

    ev, folder = raw
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(PIL.Image.DecompressionBombError):
        PIL.Image.open(_frames(folder)[0])
    back = emberxr.open_event(folder)
    np.testing.assert_array_equal(back.fire.values, ev.fire.values)
    np.testing.assert_array_equal(back.valid.values, ev.valid.values)


def test_png_with_truncated_pixel_data_is_named_on_read(raw):
    _, folder = raw
    f = _frames(folder)[4]
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 40), dtype=np.uint8)).save(f)
    f.write_bytes(f.read_bytes()[:200])
    with pytest.raises(ReaderError, match=r"0004\.png could not be decoded as a PNG"):
        emberxr.open_event(folder)


def test_raw_folder_without_fire_says_what_is_missing(raw):
    _, folder = raw
    shutil.rmtree(folder / "fire")
    with pytest.raises(NoReaderError) as info:
        emberxr.open_event(folder)
    msg = _message(info)
    assert "raw:" in msg and "lacks fire/" in msg and "terrain.tif" in msg and "one PNG per time step" in msg
    with pytest.raises(ReaderError, match=r"missing fire/\. Fix: a raw event folder holds"):
        emberxr.open_event(folder, reader="raw")


def test_data_check_takes_an_existing_folder(raw, tmp_path, capsys):
    _, folder = raw
    assert cli_main(["data", "check", str(folder)]) == 0
    assert "| all | 1 | 7 |" in capsys.readouterr().out
    other = tmp_path / "notes"
    other.mkdir()
    (other / "readme.txt").write_text("hi")
    assert cli_main(["data", "check", str(other)]) == 1
    err = capsys.readouterr().err
    assert "does not exist" not in err and "is a directory" in err and "no reader recognises" in err


def test_a_folder_is_not_reported_as_a_missing_catalog(tmp_path):
    from emberxr.catalog import open_catalog

    (tmp_path / "sub").mkdir()
    with pytest.raises(CatalogError) as info:
        open_catalog(str(tmp_path / "sub"))
    assert "is a folder, not a catalog YAML file" in _message(info) and "does not exist" not in _message(info)


def test_threshold_beyond_the_png_range(raw):
    _, folder = raw
    with pytest.raises(
        ReaderError, match=r"threshold=300 is not below the largest value .*0000\.png \(255\)"
    ):
        RawReader().open(folder, threshold=300)


def test_every_problem_is_listed_at_once(raw):
    _, folder = raw
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(folder / "fire" / "0003.png")
    _rewrite_arrival(folder, crs="EPSG:32612")
    df = pd.read_csv(folder / "wind.csv", dtype=str)
    df.loc[0, "u"] = "x"
    df.to_csv(folder / "wind.csv", index=False)
    (folder / "event.json").write_text('"fire-a"')
    with pytest.raises(ReaderError) as info:
        RawReader().open(folder)
    msg = _message(info)
    assert "has 4 problems" in msg
    for part in (
        "0003.png is 30×40",
        "arrival_time.tif is not on the terrain grid",
        "column 'u'",
        "JSON str",
    ):
        assert part in msg


def test_many_files_with_the_same_problem_are_summarised(raw):
    _, folder = raw
    for f in _frames(folder):
        Image.fromarray(np.zeros((30, 40), np.uint8)).save(f)
    with pytest.raises(ReaderError) as info:
        RawReader().open(folder)
    msg = _message(info)
    assert "0000.png is 30×40" in msg and "0001.png is 30×40" in msg and "0002.png" not in msg
    assert "... and 6 more file(s) with the same problem" in msg


@pytest.mark.parametrize(
    "breakage",
    ["terrain", "png", "wind", "meta", "store"],
)
def test_no_dependency_exception_reaches_the_user(raw, tmp_path, breakage):
    ev, folder = raw
    target = folder
    if breakage == "terrain":
        (folder / "terrain.tif").write_bytes(b"II*\x00garbage")
    elif breakage == "png":
        (folder / "valid.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    elif breakage == "wind":
        (folder / "wind.csv").write_bytes(b'time,u,v\n"unterminated,1,2\n')
    elif breakage == "meta":
        (folder / "event.json").write_text("{not json")
    else:
        target = emberxr.save_events([ev], tmp_path / "ev.zarr")
        (target / "synthetic-0" / "zarr.json").write_text("")
    with pytest.raises(EmberxrError) as info:
        emberxr.open_event(target)
    assert isinstance(info.value, ReaderError) and str(info.value)
