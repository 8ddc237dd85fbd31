"""The ``ndws`` reader and the TFRecord framing it reads (no TensorFlow)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import emberxr
from emberxr.errors import CorruptRecordError, NotGeoreferencedError, ReaderError
from emberxr.io.tfrecord import (
    iter_records,
    masked_crc32c,
    parse_example,
    record_index,
    serialize_example,
    write_records,
)
from emberxr.readers.ndws import NDWSReader, index_root, open_tile, read_split
from emberxr.testing.public import ndws_tile


def test_masked_crc32c_matches_the_published_definition():
    # CRC-32C check value of the Castagnoli polynomial (RFC 3720 B.4): crc("123456789") = 0xE3069283
    import google_crc32c

    assert google_crc32c.value(b"123456789") == 0xE3069283
    c = 0xE3069283
    assert masked_crc32c(b"123456789") == (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_records_round_trip_with_the_framing(tmp_path):
    p = write_records(tmp_path / "r.tfrecord", [b"abc", b"", b"x" * 1000])
    raw = p.read_bytes()
    assert struct.unpack("<Q", raw[:8])[0] == 3
    assert struct.unpack("<I", raw[8:12])[0] == masked_crc32c(raw[:8])
    assert struct.unpack("<I", raw[15:19])[0] == masked_crc32c(b"abc")
    assert list(iter_records(p)) == [b"abc", b"", b"x" * 1000]
    assert [n for _, n in record_index(p)] == [3, 0, 1000]


def test_example_messages_round_trip():
    data = serialize_example({"a": np.arange(5, dtype=np.float32), "n": np.array([3, -1]), "s": b"hi"})
    ex = parse_example(data)
    np.testing.assert_array_equal(ex["a"], np.arange(5, dtype=np.float32))
    np.testing.assert_array_equal(ex["n"], [3, -1])
    assert ex["s"] == [b"hi"]
    with pytest.raises(CorruptRecordError, match=r"not a tf\.train\.Example"):
        parse_example(b"\xff\xff\xff")


@pytest.mark.parametrize(
    ("where", "match"),
    [
        (9, "length checksum of record 0"),
        (40, "data checksum of record 0"),
        (-2, "data checksum of record 2"),
    ],
)
def test_a_corrupt_byte_is_a_named_error(ndws_root, tmp_path, where, match):
    src = ndws_root / "next_day_wildfire_spread_test_00.tfrecord"
    bad = tmp_path / src.name
    raw = bytearray(src.read_bytes())
    raw[where] ^= 0x01
    bad.write_bytes(bytes(raw))
    with pytest.raises(CorruptRecordError, match=match) as info:
        record_index(bad)
    assert str(bad) in str(info.value) and "download the file again" in str(info.value)


def test_a_file_cut_short_is_a_named_error(ndws_root, tmp_path):
    src = ndws_root / "next_day_wildfire_spread_test_00.tfrecord"
    bad = tmp_path / src.name
    bad.write_bytes(src.read_bytes()[:-100])
    with pytest.raises(CorruptRecordError, match="cut short"):
        list(iter_records(bad))


def test_gzip_files_are_refused_with_the_command_to_decompress(ndws_root, tmp_path):
    src = ndws_root / "next_day_wildfire_spread_test_00.tfrecord"
    gz = tmp_path / "next_day_wildfire_spread_test_00.tfrecord"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    with pytest.raises(ReaderError, match="gunzip"):
        record_index(gz)


def test_tiles_are_indexed_by_file_split(ndws_root):
    entries = index_root(ndws_root)
    assert [e.event_id for e in entries[:2]] == ["eval_00-00000", "eval_00-00001"]
    groups = NDWSReader().event_groups(ndws_root)
    assert sorted(set(groups.values())) == ["eval", "test", "train"]
    assert sum(g == "train" for g in groups.values()) == 4


def test_a_tile_becomes_a_two_day_event_with_its_features(ndws_root):
    entry = next(e for e in index_root(ndws_root) if e.group == "train")
    raw = parse_example(next(iter_records(entry.path)))
    tile = {k: v.reshape(64, 64) for k, v in raw.items()}
    ev = emberxr.validate(open_tile(entry))
    assert ev.fire.chunks is None and ev.dynamic.chunks is not None  # small parts read, dynamic lazy
    ev = ev.load()
    assert ev.sizes["time"] == 2 and ev.sizes["y"] == ev.sizes["x"] == 64
    assert list(ev.band.values) == ["elevation", "population"]
    np.testing.assert_array_equal(ev.static.sel(band="elevation").values, tile["elevation"])
    np.testing.assert_array_equal(ev.dynamic.sel(dband="erc").values[0], tile["erc"])
    assert np.isnan(ev.dynamic.values[1]).all()  # no driver of day t+1 in the data set
    np.testing.assert_allclose(
        ev.dynamic.sel(dband="th_sin").values[0], np.sin(np.deg2rad(tile["th"])), atol=1e-6
    )
    np.testing.assert_allclose(
        ev.dynamic.sel(dband="th_cos").values[0], np.cos(np.deg2rad(tile["th"])), atol=1e-6
    )
    u, v = emberxr.schema.wind_uv_from_speed_dir(tile["vs"], tile["th"])
    np.testing.assert_allclose(ev.wind_u.values[0], u, atol=1e-5)
    np.testing.assert_allclose(ev.wind_v.values[1], v, atol=1e-5)
    assert ev.attrs["fire_kind"] == "active" and "nominal" in ev.attrs["time_status"]


def test_unknown_labels_are_outside_valid_and_not_fire(ndws_root):
    entry = next(e for e in index_root(ndws_root) if e.group == "test")
    tile = {k: v.reshape(64, 64) for k, v in parse_example(next(iter_records(entry.path))).items()}
    ev = open_tile(entry).load()
    unknown = tile["FireMask"] == -1
    assert unknown.sum() == 64
    np.testing.assert_array_equal(ev.valid.values, ~unknown)
    np.testing.assert_array_equal(ev.fire.values[1], (tile["FireMask"] > 0).astype(np.uint8))
    np.testing.assert_array_equal(ev.fire.values[0], (tile["PrevFireMask"] > 0).astype(np.uint8))
    prev_unknown = tile["PrevFireMask"] == -1
    np.testing.assert_array_equal(
        ev.dynamic.sel(dband="prev_fire_unknown").values[0], prev_unknown.astype(np.float32)
    )
    assert prev_unknown.any() and not ev.fire.values[0][prev_unknown].any()


def test_unknown_pixels_are_left_out_of_the_metrics(ndws_root):
    import torch

    from emberxr.train.metrics import MetricAccumulator

    events = read_split(ndws_root, "test", progress=False)
    acc = MetricAccumulator(per_event=False)
    for ev in events:
        ev = ev.load()
        target = torch.from_numpy(ev.fire.values[1:].astype(np.float32))[None]
        logits = torch.where(target > 0, 5.0, -5.0)  # right on every known pixel
        acc.update(logits, target, torch.from_numpy(ev.valid.values)[None, None], target * 0, [1])
    res = acc.result("next")
    assert res["n_pixels"] == 3 * (64 * 64 - 64)
    assert res["ap"] == pytest.approx(1.0) and res["f1"] == pytest.approx(1.0)


def test_ndws_events_have_no_crs_and_geotiffs_refuse_them(ndws_root, tmp_path):
    ev = open_tile(index_root(ndws_root)[0]).load()
    assert ev.rio.crs is None and ev.attrs["crs_status"].startswith("none")
    with pytest.raises(NotGeoreferencedError, match="NDWS tiles are not georeferenced"):
        emberxr.io.to_geotiff(ev.fire.isel(time=1), tmp_path / "fire.tif")
    assert not (tmp_path / "fire.tif").exists()


def test_forecast_writing_refuses_an_ndws_tile(ndws_root, tmp_path):
    from emberxr.forecast import forecast, write_forecast
    from emberxr.models.copylast import CopyLast
    from emberxr.normalize import compute_stats

    ev = open_tile(index_root(ndws_root)[0]).load()
    fc = forecast(
        CopyLast(), compute_stats([ev]), ev, t=0, horizon=1, max_history=1, patch_size=16, progress=False
    )
    assert fc.probability.shape == (1, 64, 64)
    np.testing.assert_array_equal(fc.probability.values[0] > 0.5, ev.fire.values[0] > 0)
    with pytest.raises(NotGeoreferencedError, match="forecast GeoTIFF"):
        write_forecast(fc, str(tmp_path / "f.tif"))
    assert list(tmp_path.iterdir()) == []


def test_open_a_tile_of_a_file_and_reader_errors(ndws_root, tmp_path):
    f = ndws_root / "next_day_wildfire_spread_eval_00.tfrecord"
    ev = emberxr.open_event(f, tile=2)
    assert ev.attrs["event_id"] == "eval_00-00002"
    with pytest.raises(ReaderError, match="out of range"):
        emberxr.open_event(f, reader="ndws", tile=3)
    bad = tmp_path / "other.tfrecord"
    write_records(bad, [serialize_example({"elevation": np.zeros(16, np.float32)})])
    with pytest.raises(ReaderError, match="lacks the NDWS feature"):
        emberxr.open_event(bad).load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReaderError, match=r"no \.tfrecord file"):
        index_root(tmp_path / "empty")


def test_tiles_without_fire_are_read_for_the_benchmark(tmp_path):
    rng = np.random.default_rng(0)
    tile = ndws_tile(rng)
    tile["PrevFireMask"][tile["PrevFireMask"] > 0] = 0
    tile["FireMask"][tile["FireMask"] > 0] = 0
    write_records(tmp_path / "next_day_wildfire_spread_test_00.tfrecord", [serialize_example(tile)])
    (ev,) = read_split(tmp_path, "test", validate=False, progress=False)
    assert int(ev.fire.sum()) == 0
    with pytest.raises(emberxr.EventValidationError, match="no pixel is burned"):
        read_split(tmp_path, "test", progress=False)
