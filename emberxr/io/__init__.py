"""Files in and out: event collections (zarr) and georeferenced rasters (GeoTIFF/COG).

Submodules are imported on first use so ``import emberxr.io`` stays cheap.
"""

from __future__ import annotations

from emberxr._lazy import lazy_namespace

_LAZY = {
    "to_geotiff": "emberxr.io.geotiff",
    "save_events": "emberxr.io.events",
    "save_event": "emberxr.io.events",
    "open_events": "emberxr.io.events",
    "open_event_store": "emberxr.io.events",
    "list_event_ids": "emberxr.io.events",
    "check_store": "emberxr.io.events",
    "iter_events": "emberxr.io.events",
    "is_zarr_store": "emberxr.io.events",
}

__getattr__, __dir__, __all__ = lazy_namespace("emberxr.io", _LAZY, globals())
