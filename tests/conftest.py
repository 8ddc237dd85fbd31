"""Shared fixtures: tiny CRS-tagged synthetic fire events built in memory.

The events come from :mod:`emberxr.testing.events` (``synthetic_event``), the same factory plugin
authors use; these fixtures only call it.
"""

from __future__ import annotations

import os

import pytest

from emberxr.testing.events import synthetic_event, synthetic_events

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def event():
    """One valid synthetic event (32×40 cells, 8 hourly steps)."""
    return synthetic_event()


@pytest.fixture
def events():
    """Six synthetic events with different seeds and wind directions."""
    return synthetic_events(6)


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep torch on few threads so the suite is stable on a shared 2-core machine."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def make_synthetic_event():
    """The :func:`emberxr.testing.synthetic_event` factory, for tests that need custom sizes or seeds."""
    return synthetic_event
