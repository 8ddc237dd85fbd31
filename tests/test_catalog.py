"""Dataset catalogs: lookup by name and path, splits, and errors that say how to fix them."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr
import yaml

from emberxr.catalog import BUILTIN_CATALOGS, hash_split, open_catalog
from emberxr.errors import CatalogError


@pytest.fixture(scope="module")
def sim_small():
    return open_catalog("sim-small")


def test_open_by_name_and_splits(sim_small):
    from emberxr.io.events import list_event_ids

    assert sim_small.name == "sim-small" and list(sim_small) == ["train", "val", "test"]
    ids = {k: set(sim_small.event_ids(k)) for k in sim_small}
    assert [len(ids[k]) for k in ("train", "val", "test")] == [168, 36, 36]  # 70/15/15 of 240
    assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"])
    assert set().union(*ids.values()) == set(list_event_ids(sim_small.data_path))
    spec = sim_small.spec
    assert spec["simulator"] == {"name": "pyretechnics", "version": "2026.8.10", "license": "EPL-2.0"}
    assert sim_small.bands[:4] == ["elevation", "slope", "aspect", "fuel_model"]


def test_split_is_a_lazy_datatree_of_events(sim_small):
    import rioxarray  # noqa: F401

    val = sim_small["val"]
    assert isinstance(val, xr.DataTree) and sorted(val.children) == sim_small.event_ids("val")
    ev = sim_small.events("val")[0]
    assert ev["fire"].chunks is not None  # lazy (Dask)
    assert ev.sizes["x"] == ev.sizes["y"] == 128 and ev.sizes["time"] >= 12
    assert ev.rio.crs.to_epsg() == 32611
    assert list(ev["band"].values) == sim_small.bands


def test_open_by_path_same_catalog(sim_small):
    cat = open_catalog(BUILTIN_CATALOGS / "sim-small.yaml")
    assert cat.event_ids("test") == sim_small.event_ids("test")


def test_missing_catalog_lists_the_known_ones(tmp_path):
    with pytest.raises(CatalogError, match="sim-small") as info:
        open_catalog("no-such-catalog")
    assert "no catalog named 'no-such-catalog'" in str(info.value)
    with pytest.raises(CatalogError, match="does not exist"):
        open_catalog(tmp_path / "absent.yaml")


def test_missing_data_says_how_to_generate(tmp_path):
    spec = yaml.safe_load((BUILTIN_CATALOGS / "sim-medium.yaml").read_text())
    spec["path"] = "nowhere.zarr"
    p = tmp_path / "medium.yaml"
    p.write_text(yaml.safe_dump(spec))
    with pytest.raises(CatalogError, match=r"emberxr simulate --catalog catalogs/sim-medium\.yaml"):
        open_catalog(p)


def test_malformed_catalog_lists_every_problem(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"name": "bad", "reader": "csv", "splits": {"a": ["e1"], "b": ["e1"]}}))
    with pytest.raises(CatalogError) as info:
        open_catalog(p)
    msg = str(info.value)
    assert "3 problem(s)" in msg and "'path'" in msg and "csv" in msg and "both 'a' and 'b'" in msg
    p.write_text("name: [unclosed")
    with pytest.raises(CatalogError, match="not readable YAML"):
        open_catalog(p)


def test_catalog_path_env_and_hash_splits(tmp_path, monkeypatch, events):
    from emberxr.io.events import save_events

    save_events(events, tmp_path / "ev.zarr")
    spec = {"name": "mine", "reader": "zarr", "path": "ev.zarr", "seed": 3,
            "split_fractions": {"train": 0.5, "test": 0.5}}  # fmt: skip
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("EMBERXR_CATALOG_PATH", str(tmp_path))
    cat = open_catalog("mine")
    assert (
        cat.path == (tmp_path / "mine.yaml").resolve()
        and cat.data_path == Path(tmp_path / "ev.zarr").resolve()
    )
    got = {k: cat.event_ids(k) for k in cat}
    assert sorted(got["train"] + got["test"]) == sorted(e.attrs["event_id"] for e in events)
    for k, ids in got.items():
        assert all(hash_split(e, cat.spec["split_fractions"], 3) == k for e in ids)
    with pytest.raises(KeyError, match="no split 'val'"):
        cat["val"]


def test_catalog_with_any_registered_reader(tmp_path, make_synthetic_event):
    """A catalog may name any registered reader: here ``raw``, over a root of raw event folders."""
    from emberxr.readers.raw_reader import write_raw_event

    root = tmp_path / "fires"
    for i in range(3):
        write_raw_event(make_synthetic_event(seed=i, event_id=f"fire-{i}"), root / f"fire-{i}")
    (root / "notes.txt").write_text("not an event")
    spec = {
        "name": "raw-fires",
        "reader": "raw",
        "path": "fires",
        "splits": {"train": ["fire-0", "fire-1"], "test": ["fire-2"]},
    }
    yml = tmp_path / "raw-fires.yaml"
    yml.write_text(yaml.safe_dump(spec))
    cat = open_catalog(yml)
    assert cat.reader == "raw" and cat.event_ids("train") == ["fire-0", "fire-1"]
    ev = cat.events("test")[0]
    assert ev.attrs["event_id"] == "fire-2" and ev.rio.crs is not None
    assert int(ev["fire"].isel(time=-1).sum()) > 0
    # an id the reader does not find is named, with the fix
    spec["splits"]["test"] = ["fire-9"]
    yml.write_text(yaml.safe_dump(spec))
    with pytest.raises(CatalogError, match="fire-9"):
        open_catalog(yml)


def test_unknown_reader_suggests_close_names(tmp_path):
    yml = tmp_path / "c.yaml"
    yml.write_text(
        yaml.safe_dump({"name": "c", "reader": "zar", "path": "x", "split_fractions": {"all": 1.0}})
    )
    with pytest.raises(CatalogError, match=r"reader 'zar' is not a registered reader \(did you mean 'zarr'"):
        open_catalog(yml)


def test_data_path_expands_the_data_dir_variable(tmp_path, monkeypatch):
    from emberxr.catalog import resolve_data_path

    monkeypatch.setenv("EMBERXR_DATA_DIR", str(tmp_path / "store"))
    spec = {"path": "${EMBERXR_DATA_DIR}/sim-medium.zarr"}
    assert resolve_data_path(tmp_path / "c.yaml", spec) == (tmp_path / "store" / "sim-medium.zarr").resolve()
    monkeypatch.delenv("EMBERXR_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert (
        resolve_data_path(Path("/elsewhere/c.yaml"), spec)
        == (tmp_path / "data" / "sim-medium.zarr").resolve()
    )


def test_builtin_catalog_data_is_package_data():
    """sim-small ships inside the package (emberxr/_data), so a non-editable install finds it."""
    cat = open_catalog("sim-small")
    pkg = Path(__import__("emberxr").__file__).resolve().parent
    assert cat.path.parent == (pkg / "catalogs").resolve()
    assert (pkg / "_data" / "sim-small.zarr" / "zarr.json").is_file()
