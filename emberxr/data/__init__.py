"""Samples, tiles, patch tokens and batches: from FireEvents to the model's batch dict.

Modules (one job each): :mod:`~emberxr.data.samples` (which (event, t) are samples),
:mod:`~emberxr.data.tiling` (xbatcher tiles, front-biased crops, stitching),
:mod:`~emberxr.data.augment` (flips / rotations with wind, aspect and direction pairs),
:mod:`~emberxr.data.datasets` (torch datasets), :mod:`~emberxr.data.collate`
(left-padding collate), :mod:`~emberxr.data.streaming` (window reads of lazy events, the
per-process chunk cache), :mod:`~emberxr.data.cache` (zarr patch cache),
:mod:`~emberxr.data.check` (sanity report). Patch tokens (the layout shared with the models) live
in :mod:`emberxr.tokens`. Names are imported lazily (torch only on use).
See ``docs/data-pipeline.md``.
"""

from __future__ import annotations

from emberxr._lazy import lazy_namespace

_LAZY = {
    "SampleIndex": "emberxr.data.samples",
    "history_histogram": "emberxr.data.samples",
    "check_target_kind": "emberxr.data.samples",
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
    "resolve_splits": "emberxr.data.sources",
    "resolve_split": "emberxr.data.sources",
    "split_events": "emberxr.data.sources",
    "EventSequence": "emberxr.data.sources",
    "EpochSampler": "emberxr.data.loaders",
    "build_dataset": "emberxr.data.loaders",
    "build_loader": "emberxr.data.loaders",
}

__getattr__, __dir__, __all__ = lazy_namespace("emberxr.data", _LAZY, globals())
