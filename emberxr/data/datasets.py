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

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from emberxr.data.augment import Augment, AugPlan
from emberxr.data.samples import MAX_HISTORY_LIMIT, SampleIndex, check_target_kind
from emberxr.data.sources import as_event_list
from emberxr.data.tiling import FrontMap, Tile, eval_tiles, front_map, random_crop
from emberxr.errors import ConfigError, EventValidationError, Problem
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
]


def _is_dask(a: Any) -> bool:
    return type(a).__module__.startswith("dask")


@dataclass
class _Event:
    """The arrays of one event that samples are cut from (numpy, or dask when lazy)."""

    event_id: str
    n_t: int
    shape: tuple[int, int]
    fire: Any
    static: Any
    valid: Any
    wind: np.ndarray  # raw (T, 2)
    lazy: bool
    dynamic: Any = None  # raw (T, Cd, H, W) or None

    @classmethod
    def from_dataset(cls, ev: xr.Dataset, idx: int, preload: bool) -> _Event:
        get = (lambda v: np.asarray(ev[v].values)) if preload else (lambda v: ev[v].data)
        fire, static, valid = get(FIRE), get(STATIC), get(VALID)
        dynamic = get(DYNAMIC) if DYNAMIC in ev.variables else None
        lazy = any(_is_dask(a) for a in (fire, static, valid, dynamic))
        return cls(
            str(ev.attrs.get("event_id", f"event-{idx}")),
            int(ev.sizes["time"]),
            (int(ev.sizes["y"]), int(ev.sizes["x"])),
            fire,
            static,
            valid,
            np.asarray(wind_series(ev), np.float32),
            lazy,
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
    ) -> tuple[np.ndarray, ...]:
        """Frames ``t0:t1``, validity, (optionally) all static bands or one band, and (with
        ``dynamic_stop``, when the event has dynamic bands) the dynamic bands of steps
        ``t0:dynamic_stop`` of a window, last."""
        ys, xs = tile.slices
        parts = [self.fire[t0:t1, ys, xs], self.valid[ys, xs]]
        if with_static:
            parts.append(self.static[:, ys, xs])
        elif band is not None:
            parts.append(self.static[band, ys, xs])
        if dynamic_stop is not None and self.dynamic is not None:
            parts.append(self.dynamic[t0:dynamic_stop, :, ys, xs])
        if self.lazy:
            import dask

            parts = list(dask.compute(*parts, scheduler="synchronous"))
        return tuple(np.asarray(p) for p in parts)

    def read_static(self, tile: Tile) -> np.ndarray:
        ys, xs = tile.slices
        s = self.static[:, ys, xs]
        if _is_dask(s):
            s = s.compute(scheduler="synchronous")
        return np.asarray(s)


def _check_events(events: Sequence[xr.Dataset], patch_size: int, strict: bool) -> tuple[list[str], list[str]]:
    """Static and dynamic band names shared by every event (raises listing every problem)."""
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
        Otherwise lazy events stay lazy and each sample reads only its window.
    pixels
        Add ``pixels`` ``[T, 1 + 2 + Cs + Cd, H, W]`` (fire, wind u, wind v broadcast, static,
        dynamic) for baselines that want one stacked tensor per step (the notes' RawFireDataset
        layout).
    static_cache_size
        Bound of the per-worker LRU cache of normalised static windows (0 disables it).
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
        if problems:
            raise ConfigError(problems, subject="FireSampleDataset")
        if augment is True:
            augment = Augment()
        self.events = as_event_list(events)
        self.band_names, self.dynamic_names = _check_events(self.events, int(patch_size), strict)
        if target is not None:
            check_target_kind(self.events, target)
        self.target = target
        if stats is not None and hasattr(stats, "check_compatible"):
            for ev in self.events:
                stats.check_compatible(ev)
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
        self.index = SampleIndex.from_events(self.events, self.max_history, min_history)
        from emberxr.progress import progress as progress_bar

        loading = progress_bar(self.events, "load events", unit="event", enabled=progress and preload)
        self._ev = [_Event.from_dataset(ev, i, preload) for i, ev in enumerate(loading)]
        self._fronts: dict[int, FrontMap] = {}
        self._static_cache: OrderedDict[tuple[int, int, int, int, int], np.ndarray] = OrderedDict()
        self._static_cache_size = int(static_cache_size)
        # augmentation redoes direction-carrying static values: aspect alone by its normalised
        # channel (fast), direction pairs by renormalising the window
        self._raw_aspect = augment is not None and (
            "aspect" in self.band_names or bool(vector_pairs(self.band_names))
        )
        fast = self._raw_aspect and not vector_pairs(self.band_names)
        self._aspect_map = self._probe_aspect() if fast else None
        # evaluation tiles: every sample is repeated once per tile of its event
        if tile_size is not None and not self.train:
            self.tiles = [eval_tiles(e.shape, tile_size, overlap) for e in self._ev]
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
        """Change the random crops / augmentation drawn for the next epoch."""
        self.epoch = int(epoch)

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
        fm = self._fronts.get(e)
        if fm is None:
            block = max(1, (self.tile_size or 64) // 4)
            fm = self._fronts[e] = front_map(self._ev[e].fire, block)
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
        if self.stats is not None:
            out = np.asarray(self.stats.transform_static(raw), dtype=np.float32)
        else:
            out = raw.astype(np.float32, copy=True)
        return np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)

    def _normalise_dynamic(self, raw: np.ndarray, plan: AugPlan) -> np.ndarray:
        """Raw dynamic window ``[h, C, H, W]`` → features: directions turned by ``plan``, normalised."""
        raw = plan.band_values(raw, self.dynamic_names)
        if self.stats is not None:  # NormStats give finite values; another normaliser may not
            out = np.asarray(self.stats.transform_dynamic(raw), dtype=np.float32)
        else:
            out = raw.astype(np.float32, copy=True)
        np.copyto(out, 0.0, where=~np.isfinite(out))
        return out

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

    def _cached_static(self, e: int, tile: Tile) -> np.ndarray:
        key = (e, tile.y0, tile.x0, tile.h, tile.w)
        hit = self._static_cache.get(key)
        if hit is not None:
            self._static_cache.move_to_end(key)
            return hit
        out = self._normalise_static(self._ev[e].read_static(tile))
        if self._static_cache_size > 0:
            self._static_cache[key] = out
            while len(self._static_cache) > self._static_cache_size:
                self._static_cache.popitem(last=False)
        return out

    def _static_for(self, e: int, tile: Tile) -> np.ndarray:
        """Normalised static window (a fresh array: samples never share memory with the cache)."""
        ev = self._ev[e]
        if not ev.lazy:  # in memory: normalise the whole event once, slice windows from it
            H, W = ev.shape
            ys, xs = tile.slices
            return self._cached_static(e, Tile(0, 0, H, W))[:, ys, xs].copy()
        if tile.core is None:  # a random crop: not worth caching
            return self._normalise_static(ev.read_static(tile))
        return self._cached_static(e, tile).copy()

    def _rng(self, i: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(i)])

    # ---------------------------------------------------------------------------------------
    def __getitem__(self, i: int) -> dict[str, Any]:
        """Sample ``i`` as a dict of torch tensors (keys in the module docstring)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} out of range for a dataset of {len(self)}")
        i = int(i) % len(self)
        s = int(self._sample_of[i])
        e, t, h = self.index[s]
        ev = self._ev[e]
        rng = self._rng(i)
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
        p = self.patch_size
        burned = frames > 0
        fire = burned[:-1].astype(np.float32)
        target = burned[-1:].astype(np.float32)
        valid = np.asarray(valid, dtype=bool)[None]
        wind = plan.vector(np.asarray(wind, np.float32))
        if self.stats is not None:
            wind = np.asarray(self.stats.transform_wind(wind), np.float32)
        fire, target, valid, static = (plan.spatial(a) for a in (fire, target, valid, static))
        if dynamic is not None:
            dynamic = plan.spatial(dynamic)
        if self.strict:
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
            "hist_len": int(h),
            "patch_size": p,
            "grid": (gy, gx),
            "meta": {
                "event_id": self._ev[e].event_id,
                "event_idx": int(e),
                "t": int(t),
                "y0": int(tile.y0),
                "x0": int(tile.x0),
                "h": int(tile.h),
                "w": int(tile.w),
                "core": tile.core,
                "aug": None if plan.identity else (plan.flip_lr, plan.flip_ud, plan.k),
            },
        }
        if dynamic is not None:
            sample["dynamic"] = np.ascontiguousarray(dynamic, dtype=np.float32)
        if self.tokens:
            sample.update(make_tokens(fire, static, valid[0], target[0], p, self.token_mode, dynamic=dynamic))
        if self.pixels:
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
