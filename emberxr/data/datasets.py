"""Torch datasets of next-step samples: pixels and patch tokens, lazy (Dask) or preloaded.

One class, :class:`FireSampleDataset`, serves every model. A sample is ``(event, t)`` from
:class:`~emberxr.data.samples.SampleIndex`; its window is the whole event, a training crop biased
to the fire front, or one of the evaluation tiles (see :mod:`emberxr.data.tiling`). Per sample
the dataset reads only what it needs — the history frames plus the target frame, the static bands
and the validity mask of the window — in one Dask compute for lazy events, or by slicing numpy
arrays for preloaded ones. The dynamic bands (``dynamic (time, dband, y, x)``, when the events
have them) are read for the history frames only: the target frame's are never an input, so a
sample holds nothing a forecast issued at ``t`` would not know. It then augments (raw wind, aspect
and direction pairs, so directions stay exact), normalises, pads (non-strict) or crops (strict) to
multiples of the patch size and, on request, cuts patch tokens with one vectorised reshape.

Keys of a sample (torch, no batch axis) follow the batch contract in ``docs/architecture.md``;
:func:`emberxr.data.collate.temporal_collate` stacks them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from emberxr.data.augment import Augment, AugPlan
from emberxr.data.samples import MAX_HISTORY_LIMIT, SampleIndex, check_target_kind
from emberxr.data.sources import as_event_list
from emberxr.data.streaming import ArraySource, ByteLRU, array_source
from emberxr.data.tiling import FrontMap, Tile, eval_tiles, front_map, random_crop
from emberxr.errors import ConfigError, EventValidationError, Problem
from emberxr.normalize import NormStats
from emberxr.schema import (
    BAND,
    DYNAMIC,
    FIRE,
    REQUIRED_VARS,
    STATIC,
    VALID,
    dynamic_band_names,
    vector_pairs,
    wind_series,
)
from emberxr.tokens import TOKEN_MODES, crop_to_multiple, make_tokens, pad_to_multiple

__all__ = [
    "FireSampleDataset",
    "PixelFireDataset",
    "TokenFireDataset",
    "assemble_sample",
    "features",
]


@dataclass
class _Event:
    """The arrays of one event that samples are cut from: in memory, or read by windows
    (:class:`~emberxr.data.streaming.ArraySource`: zarr directly with a chunk cache, or Dask)."""

    event_id: str
    n_t: int
    shape: tuple[int, int]
    fire: ArraySource
    static: ArraySource
    valid: ArraySource
    wind: np.ndarray  # raw (T, 2)
    lazy: bool
    dynamic: Any = None  # raw (T, Cd, H, W) or None

    @classmethod
    def from_dataset(cls, ev: xr.Dataset, idx: int, preload: bool) -> _Event:
        names = (FIRE, STATIC, VALID, DYNAMIC) if DYNAMIC in ev.variables else (FIRE, STATIC, VALID)
        if preload:
            sources = [ArraySource(np.asarray(ev[v].values)) for v in names]
        else:
            sources = [array_source(ev[v].data) for v in names]
        fire, static, valid = sources[:3]
        dynamic = sources[3] if len(sources) > 3 else None
        return cls(
            str(ev.attrs.get("event_id", f"event-{idx}")),
            int(ev.sizes["time"]),
            (int(ev.sizes["y"]), int(ev.sizes["x"])),
            fire,
            static,
            valid,
            np.asarray(wind_series(ev), np.float32),
            any(a.lazy for a in sources),
            dynamic,
        )

    def read(
        self,
        t0: int,
        t1: int,
        tile: Tile,
        with_static: bool,
        band: int | None = None,
        dynamic_stop: int | None = None,
        cache: ByteLRU | None = None,
    ) -> tuple[np.ndarray, ...]:
        """Frames ``t0:t1``, validity, (optionally) all static bands or one band, and (with
        ``dynamic_stop``, when the event has dynamic bands) the dynamic bands of steps
        ``t0:dynamic_stop`` of a window, last."""
        ys, xs = tile.slices
        reads: list[tuple[ArraySource, tuple[slice, ...]]] = [
            (self.fire, (slice(t0, t1), ys, xs)),
            (self.valid, (ys, xs)),
        ]
        if with_static:
            reads.append((self.static, (slice(None), ys, xs)))
        elif band is not None:
            reads.append((self.static, (slice(band, band + 1), ys, xs)))
        if dynamic_stop is not None and self.dynamic is not None:
            reads.append((self.dynamic, (slice(t0, dynamic_stop), slice(None), ys, xs)))
        dask_parts = [src.dask_part(sel) for src, sel in reads if src.kind == "dask"]
        if len(dask_parts) > 1:  # one Dask compute for every window read through Dask
            import dask

            computed = iter(dask.compute(*dask_parts, scheduler="synchronous"))
            parts = [
                np.asarray(next(computed)) if src.kind == "dask" else src.read(sel, cache)
                for src, sel in reads
            ]
        else:
            parts = [src.read(sel, cache) for src, sel in reads]
        if band is not None and not with_static:
            parts[2] = parts[2][0]
        return tuple(parts)

    def read_static(self, tile: Tile, cache: ByteLRU | None = None) -> np.ndarray:
        """All static bands of a window."""
        ys, xs = tile.slices
        return self.static.read((slice(None), ys, xs), cache)

    def read_fire(self, cache: ByteLRU | None = None) -> Any:
        """Every fire frame: a numpy array, or a Dask array (reduced chunk by chunk) when the
        frames are read through Dask or are large next to the cache."""
        if self.fire.kind == "dask":
            return self.fire.data
        big = self.fire.nbytes * 8 > (cache.max_bytes if cache is not None else 0)
        if self.fire.kind == "zarr" and big:
            return self.fire.as_dask()
        return self.fire.read((slice(None),), cache)


def _check_events(
    events: Iterable[xr.Dataset],
    patch_size: int,
    strict: bool,
    visit: Callable[[int, xr.Dataset], None] | None = None,
) -> tuple[list[str], list[str]]:
    """Static and dynamic band names shared by every event (raises listing every problem);
    ``visit(i, event)`` is called for each event in the same pass, so events opened on access are
    opened once."""
    problems: list[Problem] = []
    names: list[str] | None = None
    dnames: list[str] | None = None
    for i, ev in enumerate(events):
        eid = ev.attrs.get("event_id", f"#{i}")
        missing = [v for v in REQUIRED_VARS if v not in ev]
        if missing:
            problems.append(Problem(f"event {eid!r} lacks {missing}", "build events with emberxr.make_event"))
            continue
        if ev.sizes.get("time", 0) < 2:
            problems.append(
                Problem(
                    f"event {eid!r} has {ev.sizes.get('time', 0)} time step(s)", "a sample needs >= 2 frames"
                )
            )
        if strict and (ev.sizes["y"] < patch_size or ev.sizes["x"] < patch_size):
            problems.append(
                Problem(
                    f"event {eid!r} ({ev.sizes['y']}×{ev.sizes['x']}) is smaller than one {patch_size}-pixel "
                    "patch, so strict mode would drop all of it",
                    "use strict=False (pads) or a smaller patch_size",
                )
            )
        bands = [str(b) for b in ev[BAND].values.tolist()]
        if names is None:
            names = bands
        elif bands != names:
            problems.append(
                Problem(
                    f"event {eid!r} has static bands {bands}, the first event has {names}",
                    "harmonise band lists",
                )
            )
        dyn = dynamic_band_names(ev)
        if dnames is None:
            dnames = dyn
        elif dyn != dnames:
            problems.append(
                Problem(
                    f"event {eid!r} has dynamic bands {dyn or 'none'}, the first event has {dnames or 'none'}",
                    "give every event the same dynamic bands (or none)",
                )
            )
        if visit is not None:
            visit(i, ev)
    if problems:
        raise EventValidationError(problems, subject="dataset events")
    return names or [], dnames or []


class FireSampleDataset(torch.utils.data.Dataset):
    """Next-step samples of FireEvents as pixel tensors and (optionally) patch tokens.

    Parameters
    ----------
    events
        FireEvents (lazy Dask-backed or in memory), or a DataTree of them.
    stats
        A ``NormStats`` (``transform_static``, ``transform_wind``, ``feature_names``); ``None``
        keeps raw float32 static bands and raw wind (m/s).
    max_history
        Longest history (1..32); shorter ones occur at the start of events.
    patch_size
        Patch size ``p``; rasters are padded (non-strict) or cropped (strict) to multiples of it.
    strict
        Drop partial patches instead of padding them.
    tile_size
        Window size (multiple of ``p``). ``None``: whole events. Training (``train=True``): one
        random crop per sample, biased to the fire front. Evaluation: every sample is expanded to
        all :func:`~emberxr.data.tiling.eval_tiles` of its event (``overlap`` pixels shared).
    train
        Random crops (with ``tile_size``); otherwise deterministic tiles.
    augment
        An :class:`~emberxr.data.augment.Augment` (flips / rotations), ``True`` for the default
        one, or ``None``. The plan drawn is recorded in ``meta["aug"]`` as ``(flip_lr, flip_ud, k)``.
    tokens
        Also produce ``fire_tokens``, ``static_tokens``, ``valid_tokens``, ``target_tokens`` (and
        ``dynamic_tokens`` when the events have dynamic bands).
    token_mode
        ``"pixels"``: tokens hold the ``p*p`` pixels (``static_tokens`` ``Cs*p*p``, channel-major);
        ``"mean"``: one value per patch and channel (the notes' scalar tokens; ``[T, N, 1]`` and
        ``[N, Cs]``), means over valid pixels. Tokens are cut by :func:`emberxr.tokens.make_tokens`.
    seed
        Seed of crops and augmentation; sample ``i`` of epoch ``e`` uses ``(seed, e, i)``, so
        results do not depend on DataLoader workers. Call :meth:`set_epoch` each epoch.
    min_history
        Skip samples with fewer history frames.
    overlap
        Overlap of evaluation tiles.
    front_bias
        Share of training crops centred near the fire front (0 = uniform).
    preload
        Load every event into memory (numpy) now: fast for small datasets such as ``sim-small``.
        Otherwise lazy events stay lazy and each sample reads only its window
        (:mod:`emberxr.data.streaming`: unmodified zarr variables with zarr directly, through a
        per-process cache of decoded chunks; other lazy arrays through Dask). Both give the same
        samples. Only a tiny record is kept per event (id, sizes, wind, where its arrays are).
    pixels
        Add ``pixels`` ``[T, 1 + 2 + Cs + Cd, H, W]`` (fire, wind u, wind v broadcast, static,
        dynamic) for baselines that want one stacked tensor per step (the notes' RawFireDataset
        layout).
    static_cache_size
        Bound of the per-worker LRU cache of normalised static windows (0 disables it).
    cache_mb
        Per-process memory budget (MiB) of a streamed dataset's cache: decoded zarr chunks,
        normalised static windows and fire-front maps share it (least recently used out first).
        A preloaded dataset keeps up to ``static_cache_size`` normalised static windows instead.
    progress
        Show a progress bar while preloading the events.
    target
        The target kind the samples are for (``"cumulative"`` or ``"active"``, see
        :func:`~emberxr.data.samples.check_target_kind`): events whose ``fire_kind`` differs are
        refused. None (default) does not check. Either way the target is the fire mask at ``t + 1``.

    Samples of events with dynamic bands also hold ``dynamic [T, Cd, H, W]``: the normalised
    dynamic bands of the history steps (``stats.transform_dynamic``; raw float32 with NaN as 0
    without ``stats``).
    """

    def __init__(
        self,
        events: Any,
        stats: Any = None,
        max_history: int = 8,
        patch_size: int = 16,
        strict: bool = False,
        tile_size: int | None = None,
        train: bool = False,
        augment: Augment | bool | None = None,
        tokens: bool = False,
        token_mode: str = "pixels",
        seed: int = 0,
        *,
        min_history: int = 1,
        overlap: int = 0,
        front_bias: float = 0.8,
        preload: bool = False,
        pixels: bool = False,
        static_cache_size: int = 256,
        cache_mb: float = 256,
        progress: bool = False,
        target: str | None = None,
    ) -> None:
        problems = []
        if not isinstance(patch_size, int | np.integer) or patch_size < 1:
            problems.append(Problem(f"patch_size={patch_size!r} is not a positive integer", "use e.g. 16"))
        if token_mode not in TOKEN_MODES:
            problems.append(Problem(f"token_mode={token_mode!r} is unknown", f"use one of {TOKEN_MODES}"))
        if not 1 <= int(max_history) <= MAX_HISTORY_LIMIT:
            problems.append(
                Problem(f"max_history={max_history} is out of range", f"use 1..{MAX_HISTORY_LIMIT}")
            )
        if tile_size is not None and (tile_size < 1 or (patch_size and tile_size % max(int(patch_size), 1))):
            problems.append(
                Problem(
                    f"tile_size={tile_size} is not a positive multiple of patch_size={patch_size}",
                    f"use e.g. tile_size={8 * max(int(patch_size), 1)}",
                )
            )
        if not 0.0 <= front_bias <= 1.0:
            problems.append(Problem(f"front_bias={front_bias} is not a probability", "use a value in [0, 1]"))
        if not cache_mb >= 0:
            problems.append(Problem(f"cache_mb={cache_mb!r} is negative", "use a budget >= 0 MiB, e.g. 256"))
        if problems:
            raise ConfigError(problems, subject="FireSampleDataset")
        if augment is True:
            augment = Augment()
        from emberxr.progress import progress as progress_bar

        # one pass over the events (opened one at a time when they come from a store): checks,
        # time counts and, when streaming, the per-event records; the events are not kept
        events = as_event_list(events)
        compatible = getattr(stats, "check_compatible", None) if stats is not None else None
        n_times: list[int] = []
        records: list[_Event] = []
        kinds: list[xr.Dataset] = []  # attributes only, for the target-kind check

        def visit(i: int, ev: xr.Dataset) -> None:
            if compatible is not None:
                compatible(ev)
            n_times.append(int(ev.sizes["time"]))
            kinds.append(xr.Dataset(attrs=dict(ev.attrs)))
            if not preload:
                records.append(_Event.from_dataset(ev, i, False))

        scan = progress_bar(events, "index events", unit="event", enabled=progress and not preload)
        self.band_names, self.dynamic_names = _check_events(scan, int(patch_size), strict, visit)
        if target is not None:
            check_target_kind(kinds, target)
        self.target = target
        if preload:
            loading = progress_bar(events, "load events", unit="event", enabled=progress)
            records = [_Event.from_dataset(ev, i, True) for i, ev in enumerate(loading)]
        del events, kinds
        self.stats = stats
        self.static_names = list(getattr(stats, "feature_names", None) or self.band_names)
        self.dynamic_feature_names = (
            list(stats.dynamic_feature_names) if stats is not None else list(self.dynamic_names)
        )
        self.max_history = int(max_history)
        self.patch_size = int(patch_size)
        self.strict = bool(strict)
        self.tile_size = tile_size
        self.train = bool(train)
        self.augment = augment
        self.tokens = bool(tokens)
        self.token_mode = token_mode
        self.seed = int(seed)
        self.overlap = int(overlap)
        self.front_bias = float(front_bias)
        self.pixels = bool(pixels)
        self.epoch = 0
        self.index = SampleIndex.from_lengths(n_times, self.max_history, min_history)
        self._ev = records
        self.preload = bool(preload)
        self.cache_bytes = int(cache_mb * 2**20)
        self._static_cache_size = int(static_cache_size)
        self.reset_caches()
        # augmentation redoes direction-carrying static values: aspect alone by its normalised
        # channel (fast), direction pairs by renormalising the window
        self._raw_aspect = augment is not None and (
            "aspect" in self.band_names or bool(vector_pairs(self.band_names))
        )
        fast = self._raw_aspect and not vector_pairs(self.band_names)
        self._aspect_map = self._probe_aspect() if fast else None
        # evaluation tiles: every sample is repeated once per tile of its event
        if tile_size is not None and not self.train:
            layouts: dict[tuple[int, int], list[Tile]] = {}  # events of one shape share a layout
            for e in self._ev:
                if e.shape not in layouts:
                    layouts[e.shape] = eval_tiles(e.shape, tile_size, overlap)
            self.tiles = [layouts[e.shape] for e in self._ev]
        else:
            self.tiles = None
        if self.tiles is not None:
            per = np.array([len(self.tiles[e]) for e in self.index.event], dtype=np.int64)
            self._sample_of = np.repeat(np.arange(len(self.index)), per)
            starts = np.concatenate([[0], np.cumsum(per)[:-1]]) if len(per) else np.zeros(0, np.int64)
            self._tile_of = np.arange(int(per.sum())) - np.repeat(starts, per)
        else:
            self._sample_of = np.arange(len(self.index))
            self._tile_of = np.zeros(len(self.index), np.int64)

    # ---------------------------------------------------------------------------------------
    @property
    def n_static(self) -> int:
        """Number of static feature channels Cs after normalisation."""
        return len(self.static_names)

    @property
    def n_dynamic(self) -> int:
        """Number of dynamic feature channels Cd after normalisation (0 without dynamic bands)."""
        return len(self.dynamic_feature_names)

    def set_epoch(self, epoch: int) -> None:
        """Change the random crops / augmentation drawn for the next epoch (integer keys; a key
        ``(epoch, i)`` names its epoch itself, see :meth:`__getitem__`)."""
        self.epoch = int(epoch)

    def reset_caches(self) -> None:
        """Empty this process's caches (decoded chunks, normalised static windows, front maps)
        and forget its zarr handles; a DataLoader worker calls it when it starts."""
        from emberxr.data.streaming import reset_process_state

        if self.preload:  # the events are in memory: keep normalised windows as before, by count
            self._chunks = ByteLRU(0)
            self._static_cache = ByteLRU(2**62, max_items=self._static_cache_size)
            self._fronts = ByteLRU(2**62)
        else:  # one budget for decoded chunks, normalised static windows and front maps
            self._chunks = self._static_cache = self._fronts = ByteLRU(self.cache_bytes)
        reset_process_state()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for k in ("_chunks", "_static_cache", "_fronts"):  # caches stay in their process
            state.pop(k, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.reset_caches()

    def __len__(self) -> int:
        return int(self._sample_of.shape[0])

    def sample_info(self, i: int) -> dict[str, Any]:
        """Event index, ``t``, history length and (evaluation) tile of item ``i``, without loading."""
        s = int(self._sample_of[i])
        e, t, h = self.index[s]
        tile = self.tiles[e][int(self._tile_of[i])] if self.tiles is not None else None
        return {"event_idx": e, "event_id": self._ev[e].event_id, "t": t, "hist_len": h, "tile": tile}

    # ---------------------------------------------------------------------------------------
    def _front(self, e: int) -> FrontMap:
        fm = self._fronts.get(("front", e))
        if fm is None:
            block = max(1, (self.tile_size or 64) // 4)
            fm = front_map(self._ev[e].read_fire(self._chunks), block)
            self._fronts.put(("front", e), fm, fm.new_burn.nbytes + fm.burning.nbytes)
        return fm

    def _tile(self, i: int, e: int, t: int, rng: np.random.Generator) -> Tile:
        ev = self._ev[e]
        H, W = ev.shape
        if self.tile_size is None:
            return Tile(0, 0, H, W, (0, H, 0, W))
        if self.tiles is not None:
            return self.tiles[e][int(self._tile_of[i])]
        front = self._front(e) if self.front_bias > 0 else None
        return random_crop(ev.shape, self.tile_size, rng, front=front, t=t, front_bias=self.front_bias)

    def _normalise_static(self, raw: np.ndarray) -> np.ndarray:
        return features(raw, self.stats, "transform_static")

    def _normalise_dynamic(self, raw: np.ndarray, plan: AugPlan) -> np.ndarray:
        """Raw dynamic window ``[h, C, H, W]`` → features: directions turned by ``plan``, normalised."""
        return features(plan.band_values(raw, self.dynamic_names), self.stats, "transform_dynamic")

    def _probe_aspect(self) -> tuple[int, int, float, float] | None:
        """If normalisation maps the raw ``aspect`` band to one feature channel by an affine map,
        return ``(band, channel, slope, offset)`` so augmentation only redoes that channel;
        otherwise None (the whole static window is renormalised per augmented sample)."""
        ia = self.band_names.index("aspect")
        probe = np.zeros((len(self.band_names), 1, 3), np.float32)
        probe[ia, 0] = (0.0, 180.0, 360.0)
        try:
            out = self._normalise_static(probe)[:, 0, :].astype(np.float64)
        except Exception:  # a normaliser that rejects the probe: take the safe path
            return None
        varies = np.nonzero(~np.isclose(out, out[:, :1], rtol=0.0, atol=1e-7).all(axis=1))[0]
        if varies.size != 1:
            return None
        k = int(varies[0])
        offset, slope = out[k, 0], (out[k, 2] - out[k, 0]) / 360.0
        if not np.isclose(out[k, 1], offset + 180.0 * slope, rtol=1e-4, atol=1e-5):
            return None
        return ia, k, float(slope), float(offset)

    def _cached_static(self, e: int, tile: Tile, whole: bool = False) -> np.ndarray:
        key = ("static", e, tile.y0, tile.x0, tile.h, tile.w)
        hit = self._static_cache.get(key)
        if hit is not None:
            return hit
        # the raw chunks of a whole event are not cached: its normalised bands are
        raw = self._ev[e].read_static(tile, None if whole else self._chunks)
        out = self._normalise_static(raw)
        if self._static_cache_size > 0:
            self._static_cache.put(key, out, out.nbytes)
        return out

    def _whole_static(self, ev: _Event) -> bool:
        """Whether windows are sliced from the event's whole normalised static bands (cached)
        rather than normalised one window at a time (the values are the same either way)."""
        H, W = ev.shape
        if self.preload or not ev.lazy:
            return True
        # streamed: worth it when the event is small next to the cache and windows cover much of it
        small = self.n_static * H * W * 4 * 8 <= self.cache_bytes
        return small and (self.tile_size is None or H * W <= 4 * self.tile_size**2)

    def _static_for(self, e: int, tile: Tile) -> np.ndarray:
        """Normalised static window (a fresh array: samples never share memory with the cache)."""
        ev = self._ev[e]
        if self._whole_static(ev):  # normalise the whole event once, slice windows from it
            H, W = ev.shape
            ys, xs = tile.slices
            return self._cached_static(e, Tile(0, 0, H, W), whole=True)[:, ys, xs].copy()
        if tile.core is None:  # a random crop: not worth caching
            return self._normalise_static(ev.read_static(tile, self._chunks))
        return self._cached_static(e, tile).copy()

    def _rng(self, i: int, epoch: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, epoch, int(i)])

    # ---------------------------------------------------------------------------------------
    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """Sample ``key`` as a dict of torch tensors (keys in the module docstring).

        ``key`` is an index ``i`` (crops and augmentation of the epoch set by :meth:`set_epoch`)
        or a pair ``(epoch, i)``, which names its epoch itself: what
        :class:`~emberxr.data.loaders.EpochSampler` yields, so persistent DataLoader workers draw
        each epoch's crops without being told the epoch.
        """
        epoch, i = key if isinstance(key, tuple) else (self.epoch, key)
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} out of range for a dataset of {len(self)}")
        i = int(i) % len(self)
        s = int(self._sample_of[i])
        e, t, h = self.index[s]
        ev = self._ev[e]
        rng = self._rng(i, int(epoch))
        tile = self._tile(i, e, t, rng)
        plan = self.augment.draw(rng) if self.augment is not None else AugPlan()
        turn_aspect = self._raw_aspect and not plan.identity
        fast = self._aspect_map if turn_aspect else None
        parts = ev.read(
            t - h + 1,
            t + 2,
            tile,
            with_static=turn_aspect and fast is None,
            band=fast[0] if fast is not None else None,
            dynamic_stop=t + 1,  # history steps only: never the target step's dynamic bands
            cache=self._chunks,
        )
        dynamic = None
        if ev.dynamic is not None:
            dynamic = self._normalise_dynamic(parts[-1], plan)
            parts = parts[:-1]
        frames, valid = parts[0], parts[1]
        if fast is not None:  # normalised static from the cache, only the aspect channel redone
            _, k, slope, offset = fast
            static = self._static_for(e, tile)
            turned = plan.aspect(parts[2].astype(np.float64))  # stored bands may be float16
            static[k] = np.nan_to_num(slope * turned + offset, nan=0.0, posinf=0.0, neginf=0.0)
        elif turn_aspect:
            static = self._normalise_static(plan.band_values(parts[2], self.band_names))
        else:
            static = self._static_for(e, tile)
        return self._assemble(
            frames, valid, static, ev.wind[t - h + 1 : t + 1], plan, e, t, h, tile, dynamic=dynamic
        )

    def _assemble(
        self,
        frames: np.ndarray,
        valid: np.ndarray,
        static: np.ndarray,
        wind: np.ndarray,
        plan: AugPlan,
        e: int,
        t: int,
        h: int,
        tile: Tile,
        dynamic: np.ndarray | None = None,
    ) -> dict[str, Any]:
        meta = {
            "event_id": self._ev[e].event_id,
            "event_idx": int(e),
            "t": int(t),
            "y0": int(tile.y0),
            "x0": int(tile.x0),
            "h": int(tile.h),
            "w": int(tile.w),
            "core": tile.core,
            "aug": None if plan.identity else (plan.flip_lr, plan.flip_ud, plan.k),
        }
        return assemble_sample(
            frames,
            valid,
            static,
            wind,
            stats=self.stats,
            patch_size=self.patch_size,
            hist_len=h,
            meta=meta,
            plan=plan,
            dynamic=dynamic,
            strict=self.strict,
            tokens=self.tokens,
            token_mode=self.token_mode,
            pixels=self.pixels,
        )


def features(raw: np.ndarray, stats: Any, transform: str) -> np.ndarray:
    """float32 features of raw bands: ``stats.<transform>(raw)`` (``"transform_static"`` or
    ``"transform_dynamic"``; the raw values without statistics), every non-finite value 0.

    Parameters
    ----------
    raw
        Raw bands (``[C, H, W]`` static, ``[T, C, H, W]`` dynamic).
    stats
        A ``NormStats`` (or another normaliser with the same methods), or None.
    transform
        The normaliser's method to apply.
    """
    if stats is None:
        out = raw.astype(np.float32, copy=True)
    else:
        out = np.asarray(getattr(stats, transform)(raw), dtype=np.float32)
        if isinstance(stats, NormStats):  # finite already: missing values become 0
            return out
    np.copyto(out, 0.0, where=~np.isfinite(out))  # another normaliser may leave NaN
    return out


def assemble_sample(
    frames: np.ndarray,
    valid: np.ndarray,
    static: np.ndarray,
    wind: np.ndarray,
    *,
    stats: Any,
    patch_size: int,
    hist_len: int,
    meta: dict[str, Any],
    plan: AugPlan | None = None,
    dynamic: np.ndarray | None = None,
    strict: bool = False,
    tokens: bool = False,
    token_mode: str = "pixels",
    pixels: bool = False,
) -> dict[str, Any]:
    """One sample (torch tensors) from the arrays of its window: the preprocessing every sample of
    :class:`FireSampleDataset` goes through, and what a forecast's inputs go through
    (:mod:`emberxr.inference`), so the two cannot drift apart.

    Parameters
    ----------
    frames
        ``[h + 1, H, W]`` raw fire frames: the history, then the target frame (fire where > 0).
    valid
        ``[H, W]`` pixel validity.
    static
        ``[Cs, H, W]`` normalised static features (:func:`features`); not copied where no
        padding or augmentation changes it: the sample's ``static`` may share its memory.
    wind
        ``[h, 2]`` raw wind (u, v) of the history steps.
    stats
        The normaliser (its ``transform_wind``), or None (raw wind).
    patch_size, strict
        Pad (``strict=False``) or crop (``strict=True``) the window to multiples of the patch size.
    hist_len, meta
        The sample's ``hist_len`` and ``meta``.
    plan
        The augmentation drawn for the sample (None: none).
    dynamic
        ``[h, Cd, H, W]`` normalised dynamic features, or None.
    tokens, token_mode, pixels
        Also cut patch tokens (:func:`~emberxr.tokens.make_tokens`) / stack ``pixels``.
    """
    plan = AugPlan() if plan is None else plan
    p = int(patch_size)
    burned = frames > 0
    fire = burned[:-1].astype(np.float32)
    target = burned[-1:].astype(np.float32)
    valid = np.asarray(valid, dtype=bool)[None]
    wind = plan.vector(np.asarray(wind, np.float32))
    if stats is not None:
        wind = np.asarray(stats.transform_wind(wind), np.float32)
    fire, target, valid, static = (plan.spatial(a) for a in (fire, target, valid, static))
    if dynamic is not None:
        dynamic = plan.spatial(dynamic)
    if strict:
        fire, target, valid, static = (crop_to_multiple(a, p) for a in (fire, target, valid, static))
        if dynamic is not None:
            dynamic = crop_to_multiple(dynamic, p)
    else:
        fire, target, static = (pad_to_multiple(a, p)[0] for a in (fire, target, static))
        valid = pad_to_multiple(valid, p, value=False)[0]
        if dynamic is not None:
            dynamic = pad_to_multiple(dynamic, p)[0]
    gy, gx = fire.shape[-2] // p, fire.shape[-1] // p
    sample: dict[str, Any] = {
        "fire": fire,
        "wind": np.ascontiguousarray(wind, dtype=np.float32),
        "static": static,
        "valid": valid,
        "target": target,
        "hist_len": int(hist_len),
        "patch_size": p,
        "grid": (gy, gx),
        "meta": meta,
    }
    if dynamic is not None:
        sample["dynamic"] = np.ascontiguousarray(dynamic, dtype=np.float32)
    if tokens:
        sample.update(make_tokens(fire, static, valid[0], target[0], p, token_mode, dynamic=dynamic))
    if pixels:
        T = fire.shape[0]
        H, W = fire.shape[-2:]
        w = np.broadcast_to(sample["wind"][:, :, None, None], (T, 2, H, W))
        st = np.broadcast_to(static[None], (T, *static.shape))
        extra = [dynamic] if dynamic is not None else []
        sample["pixels"] = np.concatenate([fire[:, None], w, st, *extra], axis=1)
    return {
        k: (torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v)
        for k, v in sample.items()
    }


def PixelFireDataset(events: Any, stats: Any = None, **kwargs: Any) -> FireSampleDataset:
    """The notes' RawFireDataset: pixel samples with the stacked ``pixels [T, 3 + Cs + Cd, H, W]``."""
    kwargs.setdefault("pixels", True)
    return FireSampleDataset(events, stats, tokens=False, **kwargs)


def TokenFireDataset(events: Any, stats: Any = None, **kwargs: Any) -> FireSampleDataset:
    """The notes' TokenFireDataset *with full history*: pixel keys plus patch tokens."""
    return FireSampleDataset(events, stats, tokens=True, **kwargs)
