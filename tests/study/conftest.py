"""Fixtures of the study tests: synthetic events with regime attributes, a tiny shift catalog and a
tiny study file (conv2d, a few steps)."""

from __future__ import annotations

import pytest
import yaml

from emberxr.testing import synthetic_events

#: regime attributes of the 10 events of ``regime_events``: (wind km/h, dead moisture %, style, terrain)
REGIMES = [
    (5.0, 9.0, "shrubland", "fractal"),
    (12.0, 8.0, "shrubland", "fractal"),
    (15.0, 7.5, "timber", "fractal"),
    (18.0, 9.5, "shrubland", "fractal"),
    (8.0, 8.5, "timber", "fractal"),
    (11.0, 7.0, "shrubland", "fractal"),
    (14.0, 9.0, "timber", "fractal"),
    (44.0, 6.0, "shrubland", "fractal"),  # windy
    (9.0, 2.5, "timber", "fractal"),  # dry
    (13.0, 8.0, "rangeland", "real"),  # a style and a terrain never trained on
]
SHIFT_SPLITS = {
    "train": [0, 1, 2, 3],
    "val": [4],
    "test": [5, 6],
    "test-windy": [7],
    "test-dry": [8],
    "test-real-terrain": [9],
}

#: a study of two conv2d arms that trains in about a second per run
TINY_STUDY = {
    "name": "tiny",
    "seeds": [0, 1],
    "reference": "small",
    "budget": {"epochs": 1, "steps_per_epoch": 2, "batch_size": 2},
    "config": {
        "model": {"name": "conv2d", "layers": 2},
        "data": {"patch_size": 8, "max_history": 3},
        "training": {"progress": False, "num_threads": 1},
        "wandb": {"enabled": False},
    },
    "arms": {"small": {"model.hidden": 4}, "big": {"model": {"hidden": 8}}},
}


@pytest.fixture
def regime_events():
    """Ten synthetic events carrying the simulator's regime attributes (:data:`REGIMES`)."""
    events = synthetic_events(len(REGIMES))
    for ev, (wind, dead, style, terrain) in zip(events, REGIMES):
        ev.attrs.update(
            regime_wind_kmh=wind,
            regime_dead_fm_pct=dead,
            regime_style=style,
            regime_terrain=terrain,
            regime_ignition="point",
        )
    return events


@pytest.fixture
def shift_catalog(tmp_path, regime_events):
    """A catalog YAML over a zarr collection with the shift benchmark's split names."""
    import emberxr

    emberxr.save_events(regime_events, tmp_path / "shift.zarr")
    ids = [ev.attrs["event_id"] for ev in regime_events]
    spec = {
        "name": "tiny-shift",
        "reader": "zarr",
        "path": "shift.zarr",
        "splits": {k: [ids[i] for i in v] for k, v in SHIFT_SPLITS.items()},
    }
    path = tmp_path / "tiny-shift.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def tiny_spec():
    """A fresh copy of :data:`TINY_STUDY`."""
    import copy

    return copy.deepcopy(TINY_STUDY)


@pytest.fixture
def tiny_study(tmp_path):
    """The path of a study YAML (:data:`TINY_STUDY`) without data (give it with --data)."""
    path = tmp_path / "tiny-study.yaml"
    path.write_text(yaml.safe_dump(TINY_STUDY, sort_keys=False))
    return path
