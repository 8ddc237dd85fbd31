"""``emberxr simulate``: help without the simulator, errors, and a real tiny run."""

from __future__ import annotations

import pytest

from emberxr.cli import main
from emberxr.simulate.engine import simulator_available


def test_help_works_without_the_simulator(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--catalog" in out and "--workers" in out and "pyretechnics" in out


def test_nothing_to_do_is_a_clear_error(capsys):
    assert main(["simulate"]) == 1
    assert "pass --catalog PATH, or --out PATH with --n-events N" in capsys.readouterr().err


def test_catalog_without_generator_section(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_text("name: c\nreader: zarr\npath: x.zarr\nsplit_fractions: {train: 1.0}\n")
    assert main(["simulate", "--catalog", str(p)]) == 1
    assert "missing generator keys n_events, size, steps, seed" in capsys.readouterr().err


@pytest.mark.simulator
@pytest.mark.skipif(not simulator_available(), reason="pyretechnics not found: run `make sim-venv`")
def test_ad_hoc_run_writes_a_collection(tmp_path, capsys):
    from emberxr.io.events import open_events
    from emberxr.validate import validate

    out = tmp_path / "ev.zarr"
    args = ["simulate", "--out", str(out), "--n-events", "2", "--size", "32", "--steps", "4", "--seed", "9"]
    assert main(args) == 0
    assert "2 events (2 new" in capsys.readouterr().out
    tree = open_events(out)
    assert len(tree.children) == 2 and all(k.startswith("sim-0") for k in tree.children)
    for node in tree.children.values():
        ev = validate(node.to_dataset())
        assert ev.attrs["simulator"] == "pyretechnics" and ev.sizes["time"] == 4


@pytest.mark.simulator
@pytest.mark.skipif(not simulator_available(), reason="pyretechnics not found: run `make sim-venv`")
def test_catalog_run_writes_splits_and_opens(tmp_path, capsys):
    import yaml

    from emberxr.catalog import open_catalog

    spec = {
        "name": "tiny", "reader": "zarr", "path": "tiny.zarr", "seed": 4,
        "split_fractions": {"train": 0.5, "val": 0.25, "test": 0.25},
        "generator": {"n_events": 4, "size": 32, "steps": 4, "prefix": "tiny"},
        "generate": "emberxr simulate --catalog tiny.yaml --write-splits",
    }  # fmt: skip
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert main(["simulate", "--catalog", str(p), "--write-splits"]) == 0
    assert "wrote splits" in capsys.readouterr().out
    cat = open_catalog(p)
    assert [len(cat.event_ids(k)) for k in ("train", "val", "test")] == [2, 1, 1]
    assert all(e.startswith("tiny-") for k in cat for e in cat.event_ids(k))
    assert cat.spec["generator"] == spec["generator"]  # the rest of the catalog is kept


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--out", "x.zarr", "--n-events", "2", "--wide", "--steps", "5"],
            "--steps does not apply to the wide",
        ),
        (["--out", "x.zarr", "--n-events", "2", "--real-share", "0.5"], "--real-share applies to the wide"),
        (["--catalog", "sim-small", "--dem", "dem.tif"], "--dem cannot be combined with --catalog"),
    ],
)
def test_wide_flags_are_checked(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", *args]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()


def test_dem_without_crs_is_refused_before_simulating(tmp_path, capsys):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", height=50, width=50, count=1, dtype="float32",
                       transform=from_origin(0, 50, 1, 1)) as dst:  # fmt: skip
        dst.write(np.ones((1, 50, 50), np.float32))
    assert main(["simulate", "--out", str(tmp_path / "x.zarr"), "--n-events", "2", "--dem", str(dem)]) == 1
    err = capsys.readouterr().err
    assert "has no CRS" in err and "gdal_edit.py" in err and not (tmp_path / "x.zarr").exists()


@pytest.mark.simulator
@pytest.mark.skipif(not simulator_available(), reason="pyretechnics not found: run `make sim-venv`")
def test_ad_hoc_wide_run_on_a_user_dem(tmp_path, capsys):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from emberxr.io.events import open_events
    from emberxr.simulate.stats import regime_table
    from emberxr.validate import validate

    rows, cols = np.mgrid[0:80, 0:80]
    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", height=80, width=80, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(-122.0, 38.0, 0.0008, 0.0008)) as dst:  # fmt: skip
        dst.write((800 + 3.0 * rows + 2.0 * cols).astype(np.float32)[None])
    out = tmp_path / "ev.zarr"
    assert main(["simulate", "--out", str(out), "--n-events", "2", "--size", "32", "--dem", str(dem)]) == 0
    assert "2 events (2 new" in capsys.readouterr().out
    tree = open_events(out)
    for node in tree.children.values():
        ev = validate(node.to_dataset())
        assert ev.rio.crs.to_epsg() == 32610 and ev.attrs["params_version"] == 2  # UTM 10N
        assert 3 <= ev.sizes["time"] <= 33
    table = regime_table(tree)
    assert (table["regime_terrain"] == "real").all() and len(table) == 2


@pytest.mark.simulator
@pytest.mark.skipif(not simulator_available(), reason="pyretechnics not found: run `make sim-venv`")
def test_shift_catalog_run_writes_held_out_splits(tmp_path, capsys):
    import yaml

    from emberxr.catalog import BUILTIN_CATALOGS, open_catalog

    spec = yaml.safe_load((BUILTIN_CATALOGS / "sim-wide-small-shift.yaml").read_text())
    spec.pop("splits", None)
    spec.update(name="tiny-shift", path="tiny.zarr", split_fractions={"train": 1.0})
    spec["generator"].update(n_events=10, size=32, prefix="tiny")
    p = tmp_path / "tiny-shift.yaml"
    p.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert main(["simulate", "--catalog", str(p), "--write-splits"]) == 0
    assert "test-windy 2, test-dry 2" in capsys.readouterr().out
    cat = open_catalog(p)
    assert "split_fractions" not in cat.spec and cat.spec["shift"] == spec["shift"]
    ids = [e for split in cat for e in cat.event_ids(split)]
    assert len(ids) == len(set(ids)) == 10
