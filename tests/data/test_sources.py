"""resolve_splits: every documented form of ``data`` becomes {split: [events]}, or a named error."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import yaml

from emberxr import plugins
from emberxr.catalog import open_catalog
from emberxr.data.sources import UNSPLIT, as_event_list, resolve_split, resolve_splits, split_events
from emberxr.errors import CatalogError, ConfigError, NoReaderError, ReaderError
from emberxr.io.events import is_zarr_store, save_event, save_events
from emberxr.readers.raw_reader import write_raw_event


def _ids(events):
    return [ev.attrs["event_id"] for ev in events]


@pytest.fixture
def evs(make_synthetic_event):
    return [make_synthetic_event(height=16, width=20, steps=4, seed=i, event_id=f"ev-{i}") for i in range(5)]


@pytest.fixture
def catalog(tmp_path, evs):
    save_events(evs, tmp_path / "events.zarr")
    spec = {
        "name": "tiny",
        "reader": "zarr",
        "path": "events.zarr",
        "splits": {"train": ["ev-0", "ev-1", "ev-2"], "val": ["ev-3"], "test": ["ev-4"]},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


EXPECTED_CATALOG = {"train": ["ev-0", "ev-1", "ev-2"], "val": ["ev-3"], "test": ["ev-4"]}


def test_split_events_is_deterministic_and_by_event(evs):
    a, b = split_events(evs), split_events(list(evs))
    assert _ids(a["train"]) == _ids(b["train"]) and _ids(a["val"]) == _ids(b["val"])
    assert len(a["val"]) == 1 and sorted(_ids(a["train"] + a["val"])) == _ids(evs)
    one = split_events(evs[:1])
    assert one["train"] == one["val"] == evs[:1]


@pytest.mark.parametrize("form", ["dataset", "list", "tuple", "generator", "datatree", "id-mapping"])
def test_in_memory_forms(evs, form):
    data = {
        "dataset": evs[0],
        "list": evs,
        "tuple": tuple(evs),
        "generator": (e for e in evs),
        "datatree": xr.DataTree.from_dict({e.attrs["event_id"]: e for e in evs}),
        "id-mapping": {e.attrs["event_id"]: e for e in evs},
    }[form]
    want = _ids(evs[:1] if form == "dataset" else evs)
    got = resolve_splits(data, auto_split=False)
    assert list(got) == [UNSPLIT] and _ids(got[UNSPLIT]) == want
    if form != "generator":
        auto = resolve_splits(data)
        assert set(auto) == {"train", "val"} and sorted(set(_ids(auto["train"] + auto["val"]))) == sorted(
            want
        )


def test_split_dict_and_split_tree_keep_their_splits(evs):
    got = resolve_splits({"train": evs[:3], "val": evs[3]}, allowed=("train", "val", "test"))
    assert _ids(got["train"]) == ["ev-0", "ev-1", "ev-2"] and _ids(got["val"]) == ["ev-3"]
    tree = xr.DataTree.from_dict({"train/ev-0": evs[0], "train/ev-1": evs[1], "test/ev-4": evs[4]})
    got = resolve_splits(tree)
    assert _ids(got["train"]) == ["ev-0", "ev-1"] and _ids(got["test"]) == ["ev-4"]


def test_unknown_split_name_is_an_error_with_a_close_match(evs):
    with pytest.raises(ConfigError) as info:
        resolve_splits({"tain": evs[:2], "val": evs[2:], "tset": evs[:1]}, allowed=("train", "val", "test"))
    msg = str(info.value)
    assert "2 problem(s)" in msg and "'tain'" in msg and "did you mean 'train'" in msg and "'tset'" in msg


def test_held_out_test_splits_of_a_shift_catalog_are_accepted(evs):
    """fit() reads a shift catalog: its test-<regime> splits pass the name check, typos do not."""
    allowed = ("train", "val", "test")
    got = resolve_splits({"train": evs[:2], "val": evs[2:3], "test-windy": evs[3:]}, allowed=allowed)
    assert _ids(got["test-windy"]) == ["ev-3", "ev-4"]
    with pytest.raises(ConfigError, match="unknown split 'test-'"):
        resolve_splits({"train": evs[:2], "test-": evs[3:]}, allowed=allowed)
    with pytest.raises(ConfigError, match="unknown split 'test-windy'"):
        resolve_splits({"train": evs[:2], "test-windy": evs[3:]}, allowed=("train", "val"))


def test_required_split(evs):
    with pytest.raises(ConfigError, match="no events in split 'train'"):
        resolve_splits({"val": evs}, required=("train",))
    assert resolve_splits(evs, required=("train",))["train"]  # unsplit data is split first


def test_catalog_object_yaml_path_and_name(catalog, monkeypatch):
    for data in (open_catalog(catalog), catalog, str(catalog)):
        got = resolve_splits(data)
        assert {k: _ids(v) for k, v in got.items()} == EXPECTED_CATALOG
    monkeypatch.setenv("EMBERXR_CATALOG_PATH", str(catalog.parent))
    assert {k: _ids(v) for k, v in resolve_splits("tiny").items()} == EXPECTED_CATALOG


def test_zarr_collection_and_single_event_store(tmp_path, evs):
    store = save_events(evs, tmp_path / "c.zarr")
    got = resolve_splits(store, auto_split=False)
    assert _ids(got[UNSPLIT]) == _ids(evs) and got[UNSPLIT][0].fire.chunks is not None  # lazy (Dask)
    one = save_event(evs[2], tmp_path / "one.zarr")
    assert _ids(resolve_splits(one, auto_split=False)[UNSPLIT]) == ["ev-2"]
    xr.testing.assert_identical(resolve_splits(str(one))["train"][0].load(), evs[2])


def test_raw_folder_and_folder_of_raw_folders(tmp_path, evs):
    raw = write_raw_event(evs[0], tmp_path / "raws" / "b-first")
    write_raw_event(evs[1], tmp_path / "raws" / "a-second")
    (tmp_path / "raws" / "README.md").write_text("notes are ignored")
    got = resolve_splits(raw, auto_split=False)[UNSPLIT]
    xr.testing.assert_identical(got[0], evs[0])
    got = resolve_splits(tmp_path / "raws", auto_split=False)[UNSPLIT]
    assert _ids(got) == ["ev-1", "ev-0"]  # in folder-name order
    (tmp_path / "raws" / "c-broken").mkdir()  # an event folder missing its files is never skipped
    with pytest.raises(ReaderError, match="c-broken"):
        resolve_splits(tmp_path / "raws")


class NetcdfReader:
    """A reader plugin: FireEvents stored as netCDF (``*.fire.nc``)."""

    name = "netcdf-test"
    description = "FireEvent as netCDF (tests)"

    def guess_can_open(self, path):
        return str(path).endswith(".fire.nc")

    def open(self, path, **kwargs):
        return xr.open_dataset(path, decode_coords="all").load()


@pytest.fixture
def netcdf_reader():
    plugins.readers.register("netcdf-test")(NetcdfReader)
    yield NetcdfReader
    plugins.readers.unregister("netcdf-test")


def test_a_plugin_readers_path(tmp_path, evs, netcdf_reader):
    path = tmp_path / "x.fire.nc"
    evs[3].to_netcdf(path)
    got = resolve_splits(path, auto_split=False)[UNSPLIT]
    assert _ids(got) == ["ev-3"] and got[0].rio.crs == evs[3].rio.crs
    np.testing.assert_array_equal(got[0].fire.values, evs[3].fire.values)


def test_paths_inside_lists_and_split_dicts(tmp_path, evs):
    a = write_raw_event(evs[0], tmp_path / "a")
    store = save_events(evs[1:3], tmp_path / "c.zarr")
    assert _ids(as_event_list([a, evs[4], store])) == ["ev-0", "ev-4", "ev-1", "ev-2"]
    got = resolve_splits({"train": store, "val": [a]})
    assert _ids(got["train"]) == ["ev-1", "ev-2"] and _ids(got["val"]) == ["ev-0"]


def test_bad_inputs_name_the_problem(tmp_path, evs):
    with pytest.raises(ReaderError, match="does not exist"):
        resolve_splits(tmp_path / "nope")
    with pytest.raises(CatalogError, match=r"not an existing file or folder.*no catalog named 'nocat'"):
        resolve_splits("nocat")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(NoReaderError, match=r"tried: .*raw.*zarr"):
        resolve_splits(tmp_path / "notes.txt")
    with pytest.raises(ConfigError, match="no events given"):
        resolve_splits([])
    with pytest.raises(ConfigError, match="data of type int"):
        resolve_splits(3)
    with pytest.raises(ConfigError, match="item #1 is a int"):
        resolve_splits([evs[0], 42])


def test_resolve_split_for_evaluation(catalog, evs):
    assert _ids(resolve_split(catalog, "test")) == ["ev-4"]
    with pytest.raises(ConfigError, match=r"no 'holdout' split \(it has test, train, val\)"):
        resolve_split(catalog, "holdout")
    assert _ids(resolve_split(evs, "test")) == _ids(evs)  # data without splits: all of it
    assert _ids(resolve_split(evs, "val")) == _ids(split_events(evs)["val"])  # what fit validated on


def test_is_zarr_store(tmp_path, evs):
    store = save_events(evs[:1], tmp_path / "c.zarr")
    raw = write_raw_event(evs[0], tmp_path / "raw")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / ".zgroup").write_text("{}")  # zarr v2
    (tmp_path / "empty.zarr").mkdir()
    assert (
        is_zarr_store(store) and is_zarr_store(tmp_path / "plain") and is_zarr_store(tmp_path / "empty.zarr")
    )
    assert not is_zarr_store(raw) and not is_zarr_store(tmp_path / "missing.zarr")
    assert not is_zarr_store(raw / "terrain.tif")
