"""Fixtures for sweep tests: sweep YAMLs written to tmp, a small event store, a cheap trainer."""

from __future__ import annotations

import sys
import textwrap

import pytest
import yaml

COMMAND = ["${env}", "${interpreter}", "-m", "emberxr", "fit", "conv2d", "${args_no_hyphens}"]
#: fixed settings that make conv2d train in about a second
TINY = [
    "model.layers=2",
    "training.steps_per_epoch=1",
    "training.batch_size=2",
    "data.patch_size=8",
    "data.max_history=3",
    "training.epochs=2",
    "training.early_stopping=null",
    "training.progress=false",
]


@pytest.fixture
def write_sweep(tmp_path):
    """Write a sweep mapping as YAML in tmp and return its path (``command`` defaults to conv2d)."""

    def write(body: dict, name: str = "sweep.yaml"):
        body = {"command": COMMAND, **body}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(body, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="module")
def event_store(tmp_path_factory):
    """Four synthetic events saved as a zarr event store (what `--data` points at)."""
    from emberxr.io.events import save_events
    from emberxr.testing import synthetic_events

    path = tmp_path_factory.mktemp("store") / "events.zarr"
    save_events(synthetic_events(4), path)
    return path


FAKE_TRAINER = textwrap.dedent(
    '''
    """A stand-in trainer for sweep-engine tests: a value from the sampled parameters, reported per epoch."""


    def score(overrides):
        return float(overrides.get("model.hidden", 1)) / 10 + float(overrides.get("training.batch_size", 0)) / 100


    def fake_train(run, overrides, run_dir, reporter):
        run_dir.mkdir(parents=True, exist_ok=True)
        value = score(overrides)
        for epoch in (1, 2):
            if reporter(epoch, {"val/new_ap": value + epoch / 1000}):
                break
        return value + 2 / 1000


    def bad_after_three(run, overrides, run_dir, reporter):
        value = 0.9 if reporter.trial.number < 3 else 0.0
        for epoch in (1, 2):
            if reporter(epoch, {"val/new_ap": value}):
                break
        return value


    CALLS = []


    def interrupt_first(run, overrides, run_dir, reporter):
        CALLS.append(dict(overrides))
        if len(CALLS) == 1:
            raise KeyboardInterrupt
        return fake_train(run, overrides, run_dir, reporter)
    '''
)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """The stand-in trainer module (importable by name, also in spawned worker processes)."""
    import importlib

    folder = tmp_path / "fakemod"
    folder.mkdir()
    (folder / "sweep_fake_trainer.py").write_text(FAKE_TRAINER)
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("sweep_fake_trainer", None)
    return importlib.import_module("sweep_fake_trainer")
