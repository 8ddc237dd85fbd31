"""The zarr reader: single-event stores and one event out of a collection."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import emberxr
from emberxr.errors import EventValidationError, ReaderError
from emberxr.io.events import save_event
from emberxr.readers.zarr_reader import ZarrReader


def test_open_one_event_of_a_collection(events, tmp_path):
    path = emberxr.save_events(events[:3], tmp_path / "c.zarr")
    ev = emberxr.open_event(path, event_id="synthetic-1")
    assert ev.fire.chunks is not None  # lazy
    xr.testing.assert_identical(ev.load(), events[1])


def test_collection_of_one_needs_no_event_id(event, tmp_path):
    path = emberxr.save_events([event], tmp_path / "c.zarr")
    xr.testing.assert_identical(emberxr.open_event(path, reader="zarr").load(), event)


def test_single_event_store(event, tmp_path):
    path = save_event(event, tmp_path / "one.zarr")
    xr.testing.assert_identical(emberxr.open_event(path).load(), event)
    with pytest.raises(ReaderError, match="single-event store holding 'synthetic-0', not 'other'"):
        emberxr.open_event(path, event_id="other")


def test_several_events_without_event_id_lists_them(events, tmp_path):
    path = emberxr.save_events(events[:3], tmp_path / "c.zarr")
    with pytest.raises(ReaderError) as info:
        emberxr.open_event(path)
    msg = str(info.value)
    assert "collection of 3 events" in msg and "synthetic-2" in msg and "event_id=" in msg


def test_unknown_event_id_suggests_close_ones(events, tmp_path):
    path = emberxr.save_events(events[:2], tmp_path / "c.zarr")
    with pytest.raises(ReaderError, match="Did you mean 'synthetic-1'"):
        emberxr.open_event(path, event_id="synthetic_1")


def test_plain_zarr_is_not_an_event_store(tmp_path):
    path = tmp_path / "plain.zarr"
    xr.Dataset({"a": ("x", np.arange(3))}).to_zarr(path, zarr_format=3, consolidated=False)
    assert ZarrReader().guess_can_open(path)
    with pytest.raises(ReaderError, match="not an event collection"):
        emberxr.open_event(path)


def test_invalid_event_in_store_is_reported_on_open(event, tmp_path):
    path = tmp_path / "bad.zarr"
    bad = event.assign(fire=event.fire * 0)
    emberxr.save_events([bad], path, check=False)
    with pytest.raises(EventValidationError, match="no pixel is burned"):
        emberxr.open_event(path)
    assert int(emberxr.open_event(path, validate=False).fire.sum()) == 0
