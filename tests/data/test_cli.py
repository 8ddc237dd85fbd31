import json

import pytest
import yaml

from emberxr.cli import main
from emberxr.data.cache import open_patch_cache
from emberxr.io.events import save_events


@pytest.fixture
def catalog(tmp_path, make_synthetic_event):
    evs = [make_synthetic_event(height=20, width=24, steps=4, seed=i, event_id=f"ev-{i}") for i in range(3)]
    save_events(evs, tmp_path / "events.zarr")
    spec = {
        "name": "tiny",
        "reader": "zarr",
        "path": "events.zarr",
        "splits": {"train": ["ev-0", "ev-1"], "val": ["ev-2"]},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_data_check_cli(catalog, tmp_path, capsys):
    out = tmp_path / "report.md"
    assert main(["data", "check", str(catalog), "--max-history", "2", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| train | 2 | 6 |" in text and "| val | 1 | 3 |" in text
    assert "| 2 | 4 |" in text  # history histogram of train: two samples of length 1, four of 2
    capsys.readouterr()
    assert main(["data", "check", str(tmp_path / "events.zarr"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["all"]["events"] == 3


def test_cache_build_cli_builds_then_reuses(catalog, tmp_path, capsys):
    out = tmp_path / "cache.zarr"
    args = [
        "cache",
        "build",
        str(catalog),
        "--patch-size",
        "8",
        "--scheduler",
        "synchronous",
        "--out",
        str(out),
    ]
    assert main([*args, "--no-progress"]) == 0
    assert "built:" in capsys.readouterr().out
    assert main([*args, "--no-progress"]) == 0
    assert "reused" in capsys.readouterr().out
    cache = open_patch_cache(out, patch_size=8, strict=False)
    assert cache.splits == ["train", "val"] and cache.stats is not None
    assert len(cache.dataset("train")) == 6


def test_cli_errors_are_reported(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "missing.yaml")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_group_commands_without_action_show_help(capsys):
    assert main(["data"]) == 2
    assert main(["cache"]) == 2
    assert "check" in capsys.readouterr().out


def test_data_seal_records_an_older_store_so_check_verifies_it(tmp_path, events, capsys):
    import json

    from emberxr.cli import main
    from emberxr.data.check import data_check
    from emberxr.io.events import save_events
    from emberxr.io.integrity import CHUNKS_ATTR

    store = tmp_path / "old.zarr"
    save_events(events[:2], store)
    for eid in ("synthetic-0", "synthetic-1"):  # as a store written before the record existed
        meta_path = store / eid / "zarr.json"
        meta = json.loads(meta_path.read_text())
        del meta["attributes"][CHUNKS_ATTR]
        meta_path.write_text(json.dumps(meta))
    assert data_check(store).verified == 0
    assert main(["data", "seal", str(store)]) == 0
    assert "recorded the chunks of 2 event(s)" in capsys.readouterr().out
    assert data_check(store).verified == 2
    assert main(["data", "seal", str(tmp_path)]) == 1  # not a store: a named error, exit 1
