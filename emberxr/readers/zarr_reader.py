"""The ``zarr`` reader: emberxr's own event stores.

Opens a single-event store (the event is the root group, see :func:`emberxr.io.events.save_event`)
or one event of a collection store (:func:`emberxr.save_events`): ``open_event(path, event_id=...)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import rioxarray  # noqa: F401  (events we return carry the .rio accessor)
import xarray as xr

from ..errors import ReaderError
from .base import BUILTIN_PRIORITY, FireReader


class ZarrReader(FireReader):
    """Read FireEvents from emberxr zarr (v3) stores."""

    name = "zarr"
    description = "emberxr zarr event store or collection (one group per event)"
    priority = BUILTIN_PRIORITY

    def guess_can_open(self, path: str | os.PathLike) -> bool:
        """True for a zarr store (:func:`emberxr.io.events.is_zarr_store`)."""
        from ..io.events import is_zarr_store

        return is_zarr_store(path)

    def open(
        self,
        path: str | os.PathLike,
        *,
        event_id: str | None = None,
        chunks: str | dict[str, int] | None = "stored",
    ) -> xr.Dataset:
        """Open one event lazily.

        Parameters
        ----------
        path
            Single-event store or collection store.
        event_id
            Which event of a collection; may be omitted when the collection holds one event.
        chunks
            Dask chunks (see :func:`emberxr.open_events`).

        Raises
        ------
        ReaderError
            Not an event store, ``event_id`` missing for a multi-event collection, or unknown.
        CorruptStoreError
            The event's metadata is unreadable or chunks written by emberxr are gone.
        """
        from ..io.events import _is_event_group, list_event_ids, open_event_store

        p = Path(path)
        ids = list_event_ids(p)
        if _is_event_group(p):
            if event_id is not None and event_id != ids[0]:
                raise ReaderError(
                    f"{str(p)!r} is a single-event store holding {ids[0]!r}, not {event_id!r}. "
                    "Fix: drop event_id or open the right store."
                )
            return open_event_store(p, chunks=chunks)
        if not ids:
            raise ReaderError(
                f"{str(p)!r} is an empty event collection. Fix: add events with save_events(mode='a')."
            )
        if event_id is None:
            if len(ids) == 1:
                event_id = ids[0]
            else:
                shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
                raise ReaderError(
                    f"{str(p)!r} is a collection of {len(ids)} events ({shown}). "
                    "Fix: pick one with open_event(path, event_id=...), or open all with emberxr.open_events."
                )
        if event_id not in ids:
            import difflib

            close = difflib.get_close_matches(str(event_id), ids, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ReaderError(f"event {event_id!r} is not in {str(p)!r}.{hint} It holds {len(ids)} event(s).")
        return open_event_store(p, group=event_id, chunks=chunks)

    def __repr__(self) -> str:
        return "ZarrReader()"
