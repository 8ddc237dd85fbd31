"""Compact on-disk encoding of simulated events, and round trips through it.

Static bands and the arrival-time raster are stored as float16 (the builder already rounds them
to float16 precision, so nothing is lost), fire masks as uint8, all zstd-compressed at a high
level. Read back, ``static`` and ``arrival_time`` come as float16 arrays.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xarray as xr


def sim_encoding() -> dict[str, dict[str, Any]]:
    """Per-variable zarr encoding overrides for :func:`emberxr.io.events.save_events`."""
    from zarr.codecs import ZstdCodec

    z = {"compressors": (ZstdCodec(level=15),)}
    return {
        "fire": {**z, "dtype": "uint8"},
        "static": {**z, "dtype": "float16"},
        "arrival_time": {**z, "dtype": "float16"},
        "valid": dict(z),
        "wind_u": dict(z),
        "wind_v": dict(z),
    }


def write_events(events: Sequence[xr.Dataset], path: str | Path, *, mode: str = "a") -> Path:
    """Write simulated events to a zarr event collection with :func:`sim_encoding`."""
    from emberxr.io.events import save_events

    return save_events(list(events), path, mode=mode, encoding=sim_encoding())  # type: ignore[arg-type]


def roundtrip(event: xr.Dataset) -> xr.Dataset:
    """The event as it reads back after writing with :func:`sim_encoding` (loaded in memory)."""
    from emberxr.io.events import open_events

    with tempfile.TemporaryDirectory(prefix="emberxr-rt-") as tmp:
        store = Path(tmp) / "rt.zarr"
        write_events([event], store, mode="w")
        tree = open_events(store, chunks=None)
        return tree[event.attrs["event_id"]].to_dataset().load()
