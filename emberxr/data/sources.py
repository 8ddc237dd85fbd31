"""Resolve what the data commands are pointed at into ``{split: [FireEvent, ...]}`` (lazy)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import xarray as xr

from emberxr.errors import CatalogError

__all__ = ["load_splits"]


def load_splits(source: Any, chunks: Any = "auto") -> dict[str, list[xr.Dataset]]:
    """Events per split from a catalog name / file, an event-collection zarr, or a mapping.

    Parameters
    ----------
    source
        * a mapping ``split -> events`` (lists or DataTrees) or a ``Catalog``;
        * a path to an event collection written by ``emberxr.save_events`` (one split ``"all"``);
        * a catalog name or YAML path understood by ``emberxr.open_catalog``.
    chunks
        Dask chunks used when opening zarr stores.
    """
    from emberxr.data.datasets import as_event_list

    if isinstance(source, Mapping):
        if hasattr(source, "events"):
            return {str(s): list(source.events(s)) for s in source}
        return {str(k): as_event_list(v) for k, v in source.items()}
    p = Path(str(source))
    if p.is_dir() and (p / "zarr.json").exists():
        from emberxr.io.events import iter_events, open_events

        return {"all": list(iter_events(open_events(p, chunks=chunks)))}
    try:
        from emberxr.catalog import open_catalog
    except ImportError as exc:  # pragma: no cover - catalog module not installed yet
        raise CatalogError(
            f"cannot open {str(source)!r}: it is not an event-collection zarr and catalogs are not available "
            f"({exc}); pass the path of a store written by emberxr.save_events"
        ) from exc
    cat = open_catalog(source)
    return {str(s): list(cat.events(s)) for s in cat}
