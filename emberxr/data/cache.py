"""The patch cache: every event's patch tokens, targets and masks precomputed into one zarr store.

Layout (zarr v3)::

    cache.zarr/                root attrs["emberxr_cache"] = metadata (settings, hash, splits ...)
        <split>/<k>/           one group per event (k = position in the split)
            fire_tokens    uint8   [T, N, p*p]   burned pixels of every frame
            target_tokens  float32 [T, N]        patch mean of each frame over valid pixels
            static_tokens  float32 [N, Cs*p*p]   normalised static features (channel-major)
            valid_tokens   bool    [N]           patch holds >= 1 valid pixel
            valid          bool    [Gy*p, Gx*p]  pixel validity (footprint, not padding)
            wind           float32 [T, 2]        normalised wind

The metadata records the patch size, strictness, grid of every event, band and feature names,
normalisation statistics and a hash of the sources and the settings. :func:`build_patch_cache`
reuses a store whose hash matches and rebuilds it otherwise; :func:`open_patch_cache` refuses a
store built with other settings (:class:`~emberxr.errors.CacheMismatchError`). Events are
tokenised stripe by stripe (:mod:`emberxr.data.stripes`), one task per event, on a
``dask.distributed`` cluster (a ``LocalCluster`` unless an address is given) or in-process
(``scheduler="synchronous"``). Scripts that start a LocalCluster need the usual
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from emberxr.atomic import atomic_path
from emberxr.data.samples import SampleIndex
from emberxr.data.sources import resolve_splits
from emberxr.data.stripes import write_event_tokens
from emberxr.errors import CacheMismatchError, ConfigError, Problem
from emberxr.schema import BAND
from emberxr.tokens import unfold_static, unpatchify

__all__ = [
    "CACHE_ATTR",
    "CACHE_FORMAT",
    "CachedTokenDataset",
    "PatchCache",
    "build_patch_cache",
    "cache_hash",
    "open_patch_cache",
    "source_fingerprint",
]

CACHE_ATTR = "emberxr_cache"
CACHE_FORMAT = 1


# -- hashing -------------------------------------------------------------------------------------
def source_fingerprint(event: xr.Dataset) -> str:
    """A deterministic token of an event's data.

    In-memory arrays are hashed by value; Dask-backed (lazily opened) arrays by their graph
    names, which xarray derives from the store path, its modification time and the chunking.
    """
    from dask.base import tokenize

    return tokenize(event, event.attrs)


def _settings(patch_size: int, strict: bool, stats: Any) -> dict[str, Any]:
    return {
        "format": CACHE_FORMAT,
        "patch_size": int(patch_size),
        "strict": bool(strict),
        "stats": stats.to_dict() if stats is not None else None,
    }


def cache_hash(
    splits: Mapping[str, Sequence[xr.Dataset]], patch_size: int, strict: bool, stats: Any = None
) -> str:
    """SHA-256 of the settings and of every event's :func:`source_fingerprint`, in split order."""
    h = hashlib.sha256(json.dumps(_settings(patch_size, strict, stats), sort_keys=True).encode())
    for split, events in splits.items():
        h.update(f"|{split}|".encode())
        for ev in events:
            h.update(source_fingerprint(ev).encode())
    return h.hexdigest()


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("attributes", {}).get(CACHE_ATTR)


# -- building ------------------------------------------------------------------------------------
def build_patch_cache(
    source: Any,
    out: str | Path,
    *,
    patch_size: int = 16,
    strict: bool = False,
    stats: Any = None,
    max_history: int = 8,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    force: bool = False,
) -> tuple[Path, bool]:
    """Build (or reuse) the patch cache of a set of events.

    Parameters
    ----------
    source
        Anything :func:`~emberxr.data.sources.resolve_splits` accepts: a catalog (name, YAML or
        ``Catalog``) or split dict keeps its splits; data without splits (a list / DataTree of
        events, an event store, a folder) is stored as the one split ``"all"``.
    out
        Store directory (``*.zarr``); written atomically.
    patch_size, strict
        Token settings (see :class:`~emberxr.data.datasets.FireSampleDataset`).
    stats
        ``NormStats`` applied to static bands and wind (``None``: raw values).
    max_history
        Default history cap recorded for readers (tokens of every frame are stored regardless,
        so it is not part of the hash).
    scheduler
        ``None`` / ``"local"``: start a ``dask.distributed.LocalCluster`` of ``workers`` processes;
        ``"synchronous"``: build in this process; otherwise the address of a running scheduler
        (``tcp://host:8786``), whose workers must see ``out``.
    workers
        Worker processes of the LocalCluster (default 2).
    progress
        Show a progress bar (:func:`emberxr.progress.progress`).
    force
        Rebuild even when the existing store's hash matches.

    Returns
    -------
    (path, built)
        The store path and whether it was (re)built (False = reused).
    """
    p = int(patch_size)
    if p < 1:
        raise ConfigError(
            [Problem(f"patch_size={patch_size!r} is not positive", "use e.g. 16")], subject="patch cache"
        )
    splits = resolve_splits(source, auto_split=False)
    events_all = [ev for evs in splits.values() for ev in evs]
    with_dynamic = [str(ev.attrs.get("event_id", "?")) for ev in events_all if "dynamic" in ev.variables]
    if with_dynamic:  # the cache stores fire/static/wind tokens only: it would drop them silently
        raise ConfigError(
            [
                Problem(
                    f"{len(with_dynamic)} event(s) have dynamic bands ({', '.join(with_dynamic[:3])}"
                    f"{' ...' if len(with_dynamic) > 3 else ''}), which the patch cache does not store",
                    "train from the events directly (FireSampleDataset / emberxr.fit read dynamic bands)",
                )
            ],
            subject="patch cache",
        )
    if stats is not None:
        for ev in events_all:
            stats.check_compatible(ev)
    out = Path(out)
    digest = cache_hash(splits, p, strict, stats)
    old = _read_meta(out) if out.exists() else None
    if old is not None and old.get("hash") == digest and not force:
        return out, False

    jobs = [(split, k, ev) for split, evs in splits.items() for k, ev in enumerate(evs)]
    results: list[dict[str, Any]] = []
    with atomic_path(out, is_dir=True) as tmp:
        import zarr

        root = zarr.open_group(tmp, mode="w", zarr_format=3)
        for split in splits:
            root.require_group(split)
        store = str(tmp)
        results = _run(jobs, store, p, strict, stats, scheduler, workers, progress)
        by_group = {r["group"]: r for r in results}
        first = events_all[0]
        meta = {
            "format": CACHE_FORMAT,
            "hash": digest,
            "patch_size": p,
            "strict": bool(strict),
            "token_mode": "pixels",
            "max_history": int(max_history),
            "band_names": [str(b) for b in first[BAND].values.tolist()],
            "feature_names": list(stats.feature_names)
            if stats is not None
            else [str(b) for b in first[BAND].values.tolist()],
            "stats": stats.to_dict() if stats is not None else None,
            "splits": {s: [by_group[f"{s}/{k}"] for k in range(len(evs))] for s, evs in splits.items()},
        }
        root.attrs[CACHE_ATTR] = meta
    return out, True


def _run(
    jobs: list[tuple[str, int, xr.Dataset]],
    store: str,
    p: int,
    strict: bool,
    stats: Any,
    scheduler: str | None,
    workers: int | None,
    progress: bool,
) -> list[dict[str, Any]]:
    from emberxr.progress import progress as progress_bar

    bar = progress_bar(total=len(jobs), desc="patch cache", unit="event", enabled=progress, leave=True)
    try:
        if scheduler == "synchronous":
            out = []
            for split, k, ev in jobs:
                out.append(write_event_tokens(ev, store, f"{split}/{k}", p, strict=strict, stats=stats))
                bar.update(1)
            return out
        from distributed import Client, LocalCluster, as_completed

        cluster = None
        if scheduler in (None, "local"):
            cluster = LocalCluster(
                n_workers=int(workers or 2), threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
        else:
            client = Client(scheduler)
        try:
            futures = [
                client.submit(
                    write_event_tokens, ev, store, f"{split}/{k}", p, strict=strict, stats=stats, pure=False
                )
                for split, k, ev in jobs
            ]
            out = []
            for fut in as_completed(futures):
                out.append(fut.result())
                bar.update(1)
            return out
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    finally:
        bar.close()


# -- reading -------------------------------------------------------------------------------------
@dataclass
class PatchCache:
    """An opened patch cache: its metadata and per-split event groups."""

    path: Path
    meta: dict[str, Any]

    @property
    def patch_size(self) -> int:
        """Patch size p the cache was built with."""
        return int(self.meta["patch_size"])

    @property
    def strict(self) -> bool:
        """True when partial patches were dropped (strict mode) rather than padded."""
        return bool(self.meta["strict"])

    @property
    def splits(self) -> list[str]:
        """Names of the splits stored in the cache."""
        return list(self.meta["splits"])

    @property
    def stats(self) -> Any:
        """The ``NormStats`` the cache was built with (None = raw)."""
        d = self.meta.get("stats")
        if d is None:
            return None
        from emberxr.normalize import NormStats

        return NormStats.from_dict(d)

    def events(self, split: str) -> list[dict[str, Any]]:
        """Per-event summaries (``group``, ``event_id``, ``n_t``, ``shape``, ``grid``) of a split."""
        if split not in self.meta["splits"]:
            raise CacheMismatchError(
                f"split {split!r} is not in the patch cache {str(self.path)!r} (it has {self.splits}); "
                "rebuild the cache from a catalog with that split"
            )
        return list(self.meta["splits"][split])

    def dataset(self, split: str, max_history: int | None = None, **kwargs: Any) -> CachedTokenDataset:
        """A :class:`CachedTokenDataset` over one split (history cap: the cache's by default)."""
        mh = int(max_history if max_history is not None else self.meta.get("max_history", 8))
        return CachedTokenDataset(self, split, max_history=mh, **kwargs)


def open_patch_cache(
    path: str | Path,
    *,
    patch_size: int | None = None,
    strict: bool | None = None,
    stats: Any = None,
    expected_hash: str | None = None,
) -> PatchCache:
    """Open a patch cache, checking it was built with the requested settings.

    Parameters
    ----------
    path
        Store written by :func:`build_patch_cache`.
    patch_size, strict, stats, expected_hash
        Requested settings; ``None`` accepts whatever the cache holds.

    Raises
    ------
    CacheMismatchError
        The path is not a patch cache, or any requested setting differs (all differences listed).
    """
    path = Path(path)
    meta = _read_meta(path) if path.exists() else None
    if meta is None:
        raise CacheMismatchError(
            f"{str(path)!r} is not an emberxr patch cache (no {CACHE_ATTR!r} metadata); "
            "build one with `emberxr cache build CATALOG --out PATH`"
        )
    diffs = []
    if meta.get("format") != CACHE_FORMAT:
        diffs.append(f"format {meta.get('format')} (this emberxr reads {CACHE_FORMAT})")
    if patch_size is not None and int(patch_size) != meta["patch_size"]:
        diffs.append(f"patch_size: cache {meta['patch_size']}, requested {patch_size}")
    if strict is not None and bool(strict) != meta["strict"]:
        diffs.append(f"strict: cache {meta['strict']}, requested {strict}")
    if stats is not None and stats.to_dict() != meta.get("stats"):
        diffs.append("normalisation statistics differ from the ones the cache was built with")
    if expected_hash is not None and expected_hash != meta.get("hash"):
        diffs.append(f"hash: cache {meta.get('hash', '?')[:12]}…, requested {expected_hash[:12]}…")
    if diffs:
        raise CacheMismatchError(
            f"patch cache {str(path)!r} does not match the requested settings:\n  - "
            + "\n  - ".join(diffs)
            + "\nfix: rebuild it with `emberxr cache build` using these settings, or request the cache's own"
        )
    return PatchCache(path, meta)


class CachedTokenDataset(torch.utils.data.Dataset):
    """Samples read from a patch cache, with the same keys as ``TokenFireDataset``.

    Pixel keys (``fire``, ``static``, ``target``) are rebuilt from the stored pixel tokens with
    :func:`~emberxr.tokens.unpatchify` / :func:`~emberxr.tokens.unfold_static`, so models that
    want pixels work too.

    Parameters
    ----------
    cache
        An opened :class:`PatchCache`.
    split
        Split to read.
    max_history, min_history
        History cap (1..32) and minimum.
    preload
        Read the split's arrays into memory once (fast for small caches).
    cache_events
        Without ``preload``: how many events' per-event arrays (static tokens, masks, wind,
        targets) each worker keeps in an LRU cache; fire tokens are always read per sample.
    """

    def __init__(
        self,
        cache: PatchCache,
        split: str,
        max_history: int = 8,
        *,
        min_history: int = 1,
        preload: bool = False,
        cache_events: int = 32,
    ) -> None:
        import zarr

        self.cache = cache
        self.split = split
        self.info = cache.events(split)
        self.index = SampleIndex.from_lengths([e["n_t"] for e in self.info], max_history, min_history)
        self.patch_size = cache.patch_size
        root = zarr.open_group(cache.path, mode="r")
        self._groups = [root[e["group"]] for e in self.info]
        self._mem: list[dict[str, np.ndarray]] | None = None
        self._lru: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._lru_size = max(1, int(cache_events))
        if preload:
            self._mem = [{k: np.asarray(g[k][...]) for k in g.array_keys()} for g in self._groups]

    def __len__(self) -> int:
        return len(self.index)

    _CONSTANT = ("static_tokens", "valid", "valid_tokens", "wind", "target_tokens")

    def _arr(self, e: int, key: str) -> Any:
        if self._mem is not None:
            return self._mem[e][key]
        if key not in self._CONSTANT:
            return self._groups[e][key]
        # per-event arrays every sample of the event reuses: a small LRU per worker
        hit = self._lru.get(e)
        if hit is None:
            g = self._groups[e]
            hit = {k: np.asarray(g[k][...]) for k in self._CONSTANT}
            self._lru[e] = hit
            while len(self._lru) > self._lru_size:
                self._lru.popitem(last=False)
        else:
            self._lru.move_to_end(e)
        return hit[key]

    def __getitem__(self, i: int) -> dict[str, Any]:
        e, t, h = self.index[int(i)]
        p = self.patch_size
        gy, gx = self.info[e]["grid"]
        frames = np.asarray(self._arr(e, "fire_tokens")[t - h + 1 : t + 2]).astype(np.float32)
        st = np.asarray(self._arr(e, "static_tokens")[...])
        static = unfold_static(st, p, (gy, gx))
        valid = np.asarray(self._arr(e, "valid")[...], bool)[None]
        fire_tokens = frames[:-1]
        pix = unpatchify(frames, p, (gy, gx))
        sample = {
            "fire": pix[:-1],
            "wind": np.asarray(self._arr(e, "wind")[t - h + 1 : t + 1], np.float32),
            "static": static,
            "valid": valid,
            "target": pix[-1:],
            "fire_tokens": fire_tokens,
            "static_tokens": st.astype(np.float32, copy=False),
            "valid_tokens": np.asarray(self._arr(e, "valid_tokens")[...], bool),
            "target_tokens": np.asarray(self._arr(e, "target_tokens")[t + 1], np.float32),
        }
        # arrays that would share memory with the reader's caches are copied, so a consumer
        # writing into a sample never changes the next one
        shared = ("wind", "valid", "static_tokens", "valid_tokens", "target_tokens")
        out: dict[str, Any] = {
            k: torch.from_numpy(np.array(v, copy=True, order="C") if k in shared else np.ascontiguousarray(v))
            for k, v in sample.items()
        }
        H, W = self.info[e]["shape"]
        out.update(
            hist_len=int(h),
            patch_size=p,
            grid=(int(gy), int(gx)),
            meta={
                "event_id": self.info[e]["event_id"],
                "event_idx": e,
                "t": t,
                "y0": 0,
                "x0": 0,
                "h": H,
                "w": W,
                "aug": None,
            },
        )
        return out
