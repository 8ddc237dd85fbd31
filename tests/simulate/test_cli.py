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
