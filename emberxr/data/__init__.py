"""Samples, tiles, patch tokens and batches: from FireEvents to the model's batch dict.

Modules (one job each): :mod:`~emberxr.data.samples` (which (event, t) are samples),
:mod:`~emberxr.data.patchify` (vectorised tokens), :mod:`~emberxr.data.tiling` (xbatcher tiles,
front-biased crops, stitching), :mod:`~emberxr.data.augment` (flips / rotations with wind and
aspect), :mod:`~emberxr.data.datasets` (torch datasets), :mod:`~emberxr.data.collate`
(left-padding collate), :mod:`~emberxr.data.cache` (zarr patch cache),
:mod:`~emberxr.data.check` (sanity report). Names are imported lazily (torch only on use).
See ``docs/data-pipeline.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SampleIndex": "emberxr.data.samples",
    "history_histogram": "emberxr.data.samples",
    "patchify": "emberxr.data.patchify",
    "unpatchify": "emberxr.data.patchify",
    "pad_to_multiple": "emberxr.data.patchify",
    "crop_to_multiple": "emberxr.data.patchify",
    "valid_token_mask": "emberxr.data.patchify",
    "patch_mean": "emberxr.data.patchify",
    "Tile": "emberxr.data.tiling",
    "eval_tiles": "emberxr.data.tiling",
    "random_crop": "emberxr.data.tiling",
    "stitch": "emberxr.data.tiling",
    "Augment": "emberxr.data.augment",
    "AugPlan": "emberxr.data.augment",
    "FireSampleDataset": "emberxr.data.datasets",
    "PixelFireDataset": "emberxr.data.datasets",
    "TokenFireDataset": "emberxr.data.datasets",
    "temporal_collate": "emberxr.data.collate",
    "build_patch_cache": "emberxr.data.cache",
    "open_patch_cache": "emberxr.data.cache",
    "CachedTokenDataset": "emberxr.data.cache",
    "data_check": "emberxr.data.check",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'emberxr.data' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
