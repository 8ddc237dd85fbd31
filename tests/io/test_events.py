"""Event collections in zarr: exact round trips, appends, encodings, bad stores."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr

from emberxr.errors import EventValidationError, ReaderError, WriteError
from emberxr.io.events import iter_events, list_event_ids, open_events, save_event, save_events


def test_datatree_round_trip_is_identical(events, tmp_path):
    tree = xr.DataTree.from_dict({ev.attrs["event_id"]: ev for ev in events[:3]})
    path = save_events(tree, tmp_path / "c.zarr")
    back = open_events(path)
    assert sorted(back.children) == ["synthetic-0", "synthetic-1", "synthetic-2"]
    for ev in events[:3]:
        got = back[ev.attrs["event_id"]].to_dataset()
        assert got.rio.crs == ev.rio.crs
        assert got.rio.transform() == ev.rio.transform()
        assert got.fire.chunks is not None  # lazy, Dask-backed
        xr.testing.assert_identical(got.load(), ev)
        assert got.time.dtype == np.dtype("datetime64[ns]")
        assert got.band.dtype.kind == "U" and got.band_kind.dtype.kind == "U"


def test_list_and_mapping_inputs_and_iter_events(events, tmp_path):
    save_events(events[:2], tmp_path / "a.zarr")
    save_events({"x1": events[2], "x0": events[3]}, tmp_path / "b.zarr")
    assert list_event_ids(tmp_path / "a.zarr") == ["synthetic-0", "synthetic-1"]
    assert list_event_ids(tmp_path / "b.zarr") == ["x0", "x1"]
    got = list(iter_events(open_events(tmp_path / "b.zarr", chunks=None)))
    assert [g.attrs["event_id"] for g in got] == ["x0", "x1"]  # the group name is the id
    np.testing.assert_array_equal(got[1].fire.values, events[2].fire.values)


def test_append_adds_groups_without_rewriting_others(events, tmp_path):
    path = tmp_path / "c.zarr"
    save_events(events[:2], path)
    first_chunk = path / "synthetic-0" / "fire" / "c" / "0" / "0" / "0"
    before = (first_chunk.read_bytes(), first_chunk.stat().st_mtime_ns, first_chunk.stat().st_ino)
    for ev in events[2:4]:  # one event at a time, like the simulator
        save_events([ev], path, mode="a")
    after = (first_chunk.read_bytes(), first_chunk.stat().st_mtime_ns, first_chunk.stat().st_ino)
    assert before == after
    assert list_event_ids(path) == [f"synthetic-{i}" for i in range(4)]
    xr.testing.assert_identical(open_events(path)["synthetic-3"].to_dataset().load(), events[3])


def test_append_creates_missing_store_and_replaces_same_id(events, tmp_path):
    path = tmp_path / "new.zarr"
    save_events([events[0]], path, mode="a")
    replacement = events[1].assign_attrs(event_id="synthetic-0")
    save_events([replacement], path, mode="a")
    assert list_event_ids(path) == ["synthetic-0"]
    got = open_events(path)["synthetic-0"].to_dataset()
    np.testing.assert_array_equal(got.fire.values, events[1].fire.values)


def test_encoding_override_on_top_of_zstd(events, tmp_path):
    path = save_events(events[:2], tmp_path / "c.zarr", encoding={"static": {"dtype": "float16"}})
    meta = json.loads((path / "synthetic-0" / "static" / "zarr.json").read_text())
    assert meta["data_type"] == "float16"
    assert any(c["name"] == "zstd" for c in meta["codecs"])
    got = open_events(path)["synthetic-0"].to_dataset().load()
    assert got.static.dtype == np.float16
    np.testing.assert_allclose(got.static.values, events[0].static.values.astype(np.float16))
    xr.testing.assert_identical(got.drop_vars("static"), events[0].drop_vars("static"))


@pytest.mark.filterwarnings("ignore:The specified chunks separate")
def test_dask_backed_events_can_be_resaved(events, tmp_path):
    save_events(events[:2], tmp_path / "a.zarr")
    lazy = open_events(tmp_path / "a.zarr", chunks={"time": 3, "y": 10, "x": 10})
    save_events(lazy, tmp_path / "b.zarr")
    xr.testing.assert_identical(
        open_events(tmp_path / "b.zarr")["synthetic-1"].to_dataset().load(), events[1]
    )


def test_single_event_store_opens_as_one_event_tree(event, tmp_path):
    path = save_event(event, tmp_path / "one.zarr")
    assert list_event_ids(path) == ["synthetic-0"]
    tree = open_events(path)
    xr.testing.assert_identical(tree["synthetic-0"].to_dataset().load(), event)


def test_store_that_is_not_an_event_collection(tmp_path):
    xr.Dataset({"a": ("x", np.arange(3))}).to_zarr(tmp_path / "plain.zarr", zarr_format=3, consolidated=False)
    with pytest.raises(ReaderError, match="not an event collection"):
        open_events(tmp_path / "plain.zarr")
    with pytest.raises(ReaderError, match="not an event collection"):
        save_events([], tmp_path / "plain.zarr", mode="a")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReaderError, match="is not a zarr"):
        list_event_ids(tmp_path / "empty")


def test_bad_ids_and_invalid_events_write_nothing(events, tmp_path):
    with pytest.raises(WriteError, match="cannot name a zarr group"):
        save_events({"a/b": events[0]}, tmp_path / "c.zarr")
    with pytest.raises(WriteError, match="more than once"):
        save_events([events[0], events[0]], tmp_path / "c.zarr")
    with pytest.raises(WriteError, match="mode must be"):
        save_events(events[:1], tmp_path / "c.zarr", mode="r+")
    bad = events[1].assign(fire=events[1].fire * 0)
    with pytest.raises(EventValidationError, match="no pixel is burned"):
        save_events([events[0], bad], tmp_path / "c.zarr")
    assert not (tmp_path / "c.zarr").exists()


def test_failure_midway_keeps_old_store_and_earlier_groups(events, tmp_path):
    path = tmp_path / "c.zarr"
    save_events(events[:2], path)
    unwritable = events[3].assign_attrs(note=object())  # attrs that zarr cannot serialise
    with pytest.raises(TypeError):
        save_events([events[2], unwritable], path)  # mode "w": fails after writing one group
    assert list_event_ids(path) == ["synthetic-0", "synthetic-1"]
    with pytest.raises(TypeError):
        save_events([events[2], unwritable], path, mode="a")
    # the group that completed is kept, the interrupted one never appears
    assert list_event_ids(path) == ["synthetic-0", "synthetic-1", "synthetic-2"]
    assert not [p.name for p in path.iterdir() if p.name.startswith(".")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # opening is clean: no leftover partial group
        tree = open_events(path)
    xr.testing.assert_identical(tree["synthetic-0"].to_dataset().load(), events[0])
    assert tree["synthetic-2"].to_dataset().load().identical(events[2])


def test_iter_events_accepts_lists_mappings_and_single_datasets(events):
    assert [e.attrs["event_id"] for e in iter_events(events[:2])] == ["synthetic-0", "synthetic-1"]
    assert next(iter(iter_events({"k": events[0]}))) is events[0]
    assert next(iter(iter_events(events[0]))) is events[0]


def test_append_removes_temporaries_of_dead_writers_only(events, tmp_path):
    import os

    path = save_events(events[:1], tmp_path / "c.zarr")
    dead = path / ".x.tmp-999999999-abc"  # above any pid_max: no such process
    live = path / f".y.tmp-{os.getppid()}-abc"  # the parent process is alive: maybe a parallel writer
    dead.mkdir()
    live.mkdir()
    save_events(events[1:2], path, mode="a")
    assert not dead.exists() and live.exists()
    assert list_event_ids(path) == ["synthetic-0", "synthetic-1"]  # hidden directories are never events


def test_gridded_wind_without_arrival_time_round_trips(event, tmp_path):
    T, H, W = event.fire.shape
    u = np.broadcast_to(event.wind_u.values[:, None, None], (T, H, W)).astype(np.float32)
    gridded = event.assign(
        wind_u=(("time", "y", "x"), u), wind_v=(("time", "y", "x"), np.zeros((T, H, W), np.float32))
    ).drop_vars("arrival_time")
    path = save_events([gridded], tmp_path / "g.zarr")
    got = open_events(path)["synthetic-0"].to_dataset()
    assert got.wind_u.dims == ("time", "y", "x") and "arrival_time" not in got
    xr.testing.assert_identical(got.load(), gridded)


def test_empty_collection_lists_and_opens_as_empty(events, tmp_path):
    import emberxr

    path = save_events([], tmp_path / "empty.zarr")
    assert list_event_ids(path) == []
    assert len(open_events(path).children) == 0
    with pytest.raises(ReaderError, match="empty event collection"):
        emberxr.open_event(path)
    save_events(events[:1], path, mode="a")
    assert list_event_ids(path) == ["synthetic-0"]


def test_opened_events_have_rio_without_importing_rioxarray():
    """A user who never imports rioxarray still gets ``.rio`` on what emberxr opens."""
    import subprocess
    import sys

    code = (
        "import emberxr\n"
        "ev = emberxr.open_catalog('sim-small').events('test')[0]\n"
        "print(ev.rio.crs.to_epsg())\n"
        "one = emberxr.open_event('data/sim-small.zarr', event_id=ev.attrs['event_id'])\n"
        "print(one.rio.crs.to_epsg())\n"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert out.stdout.split() == ["32611", "32611"]
