"""Files in and out: event collections (zarr) and georeferenced rasters (GeoTIFF/COG).

Submodules are imported on first use so ``import emberxr.io`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "to_geotiff": "emberxr.io.geotiff",
    "save_events": "emberxr.io.events",
    "save_event": "emberxr.io.events",
    "open_events": "emberxr.io.events",
    "open_event_store": "emberxr.io.events",
    "list_event_ids": "emberxr.io.events",
    "iter_events": "emberxr.io.events",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'emberxr.io' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
