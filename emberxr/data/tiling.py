"""Tiles (windows) over FireEvents: full-coverage evaluation tiles and fire-front-biased crops.

Evaluation tiles are laid out with :class:`xbatcher.BatchSchema` over the (lazy, Dask-backed)
event, plus one extra row / column of tiles flush with the bottom / right edge when xbatcher's
stride leaves a remainder, so every pixel is covered. Each tile owns a *core* region; the cores
partition the event, so :func:`stitch` writes each pixel exactly once (overlaps are split in the
middle). Training crops are drawn by :func:`random_crop`, biased towards the fire front (the
pixels that burn between ``t`` and ``t + 1``) the way WildfireSpreadTS oversamples fire.

Nothing here loads event data: tiles are index boxes; :func:`tile_view` returns a lazy view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from emberxr.errors import ConfigError, Problem
from emberxr.schema import FIRE, VALID

__all__ = ["FrontMap", "Tile", "eval_tiles", "front_map", "random_crop", "stitch", "tile_view"]


@dataclass(frozen=True)
class Tile:
    """A window ``[y0:y0+h, x0:x0+w]`` of an event and the core region it owns when stitching.

    ``core`` is ``(cy0, cy1, cx0, cx1)`` in event coordinates (half-open).
    """

    y0: int
    x0: int
    h: int
    w: int
    core: tuple[int, int, int, int] | None = None

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(y, x)`` slices of the window in event coordinates."""
        return slice(self.y0, self.y0 + self.h), slice(self.x0, self.x0 + self.w)

    @property
    def core_local(self) -> tuple[slice, slice]:
        """``(y, x)`` slices of the owned core inside the tile."""
        if self.core is None:
            return slice(0, self.h), slice(0, self.w)
        cy0, cy1, cx0, cx1 = self.core
        return slice(cy0 - self.y0, cy1 - self.y0), slice(cx0 - self.x0, cx1 - self.x0)


def _shape(event_or_shape: xr.Dataset | Sequence[int]) -> tuple[int, int]:
    if isinstance(event_or_shape, xr.Dataset | xr.DataArray):
        return int(event_or_shape.sizes["y"]), int(event_or_shape.sizes["x"])
    h, w = (int(v) for v in event_or_shape[-2:])
    return h, w


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int | np.integer):
        return int(v), int(v)
    a, b = v
    return int(a), int(b)


def _starts_and_cores(starts: list[int], length: int, size: int) -> list[tuple[int, int, int]]:
    """(start, core_start, core_stop) per tile along one axis; cores partition ``[0, size)``."""
    if starts[-1] + length < size:
        starts = [*starts, size - length]  # flush with the far edge
    out = []
    for i, s in enumerate(starts):
        lo = 0 if i == 0 else (s + starts[i - 1] + length) // 2
        hi = size if i == len(starts) - 1 else (starts[i + 1] + s + length) // 2
        out.append((s, lo, hi))
    return out


def eval_tiles(
    event: xr.Dataset | Sequence[int], tile: int | Sequence[int], overlap: int | Sequence[int] = 0
) -> list[Tile]:
    """Tiles covering the whole event, for evaluation and prediction.

    Parameters
    ----------
    event
        A FireEvent (only its ``y`` / ``x`` sizes are used; nothing is loaded) or a shape
        ``(..., H, W)``.
    tile
        Tile size (``int`` or ``(th, tw)``); clipped to the event size. When the tile is at least
        the event size the single tile is the whole event.
    overlap
        Pixels shared by neighbouring tiles (``< tile``).

    Returns
    -------
    list of Tile
        Row-major tiles; their ``core`` regions partition the event (see :func:`stitch`).
    """
    import xbatcher

    H, W = _shape(event)
    th, tw = _pair(tile)
    oy, ox = _pair(overlap)
    problems = []
    if th < 1 or tw < 1:
        problems.append(Problem(f"tile size {tile!r} is not positive", "use e.g. tile=128"))
    if oy < 0 or ox < 0 or oy >= max(th, 1) or ox >= max(tw, 1):
        problems.append(
            Problem(f"overlap {overlap!r} must be >= 0 and < tile {tile!r}", "use e.g. overlap=tile//4")
        )
    if problems:
        raise ConfigError(problems, subject="eval tiles")
    th, tw = min(th, H), min(tw, W)
    oy, ox = min(oy, th - 1), min(ox, tw - 1)
    if th == H and tw == W:
        return [Tile(0, 0, H, W, (0, H, 0, W))]
    # xbatcher lays out the regular windows (it only reads sizes; the event stays lazy)
    if isinstance(event, xr.Dataset) and VALID in event:
        probe = event[VALID]
    else:
        probe = xr.DataArray(np.broadcast_to(np.zeros((), np.uint8), (H, W)), dims=("y", "x"))
    schema = xbatcher.BatchSchema(
        probe, input_dims={"y": th, "x": tw}, input_overlap={"y": oy, "x": ox}, concat_input_bins=False
    )
    sels = [s[0] for s in schema.selectors.values()]
    ys = sorted({int(s["y"].start) for s in sels})
    xs = sorted({int(s["x"].start) for s in sels})
    rows = _starts_and_cores(ys, th, H)
    cols = _starts_and_cores(xs, tw, W)
    return [Tile(y0, x0, th, tw, (cy0, cy1, cx0, cx1)) for (y0, cy0, cy1) in rows for (x0, cx0, cx1) in cols]


def stitch(tiles: Sequence[Tile], values: Sequence[Any], shape: Sequence[int]) -> np.ndarray:
    """Assemble per-tile arrays ``[..., th, tw]`` into one ``[..., H, W]`` array.

    Each pixel is taken from the one tile whose core owns it.
    """
    first = np.asarray(values[0])
    out = np.zeros((*first.shape[:-2], *shape[-2:]), dtype=first.dtype)
    for tile, v in zip(tiles, values, strict=True):
        v = np.asarray(v)
        cy, cx = tile.core_local
        ys, xs = tile.slices
        cy0, cy1, cx0, cx1 = tile.core if tile.core is not None else (ys.start, ys.stop, xs.start, xs.stop)
        out[..., cy0:cy1, cx0:cx1] = v[..., cy, cx]
    return out


def tile_view(event: xr.Dataset, tile: Tile) -> xr.Dataset:
    """The event restricted to a tile (lazy when the event is)."""
    ys, xs = tile.slices
    return event.isel(y=ys, x=xs)


# ---------------------------------------------------------------------------------------------
# fire-front map for biased crops


@dataclass(frozen=True)
class FrontMap:
    """Coarse per-block pixel counts of an event's fire, used to bias crops towards the front.

    ``new_burn[t]`` counts pixels that burn between ``t`` and ``t + 1`` per ``block × block``
    block; ``burning[t]`` counts burned pixels at ``t``. Both are small ``[T', gy, gx]`` arrays.
    """

    block: int
    new_burn: np.ndarray
    burning: np.ndarray
    shape: tuple[int, int]

    def weights(self, t: int) -> np.ndarray:
        """Block weights for a crop at history end ``t`` (new burn, else the burned area)."""
        if 0 <= t < self.new_burn.shape[0] and self.new_burn[t].sum() > 0:
            return self.new_burn[t].astype(np.float64)
        if 0 <= t < self.burning.shape[0]:
            return self.burning[t].astype(np.float64)
        return np.zeros(self.new_burn.shape[1:], np.float64)


def _block_sum(a: Any, block: int) -> Any:
    """Sum ``[T, H, W]`` over ``block × block`` blocks (numpy or dask), padding the edges."""
    T, H, W = a.shape
    ph, pw = (-H) % block, (-W) % block
    if type(a).__module__.startswith("dask"):
        import dask.array as da

        if ph or pw:
            a = da.pad(a, ((0, 0), (0, ph), (0, pw)))
        return da.coarsen(np.sum, a, {1: block, 2: block}, trim_excess=True)
    if ph or pw:
        a = np.pad(a, ((0, 0), (0, ph), (0, pw)))
    return a.reshape(T, (H + ph) // block, block, (W + pw) // block, block).sum(axis=(2, 4))


def front_map(event: xr.Dataset | np.ndarray, block: int = 32) -> FrontMap:
    """Compute the :class:`FrontMap` of an event (streams over Dask chunks; result is tiny).

    Parameters
    ----------
    event
        A FireEvent or its ``fire`` array ``[T, H, W]`` (numpy or dask).
    block
        Block size in pixels (a quarter of the crop size is a good choice).
    """
    fire = event[FIRE].data if isinstance(event, xr.Dataset) else event
    burned = fire > 0
    new = burned[1:] & ~burned[:-1]
    nb = _block_sum(new.astype(np.int32), block)
    bu = _block_sum(burned.astype(np.int32), block)
    if type(nb).__module__.startswith("dask"):
        import dask

        nb, bu = dask.compute(nb, bu, scheduler="synchronous")
    return FrontMap(int(block), np.asarray(nb, np.int32), np.asarray(bu, np.int32), tuple(fire.shape[-2:]))


def random_crop(
    shape: Sequence[int],
    tile: int | Sequence[int],
    rng: np.random.Generator,
    *,
    front: FrontMap | None = None,
    t: int | None = None,
    front_bias: float = 0.8,
) -> Tile:
    """Draw a training crop, biased towards the fire front.

    Parameters
    ----------
    shape
        ``(..., H, W)`` of the event.
    tile
        Crop size ``int`` or ``(th, tw)``; clipped to the event (a full-event "crop" when larger).
    rng
        Random generator (the dataset seeds one per sample).
    front, t
        The event's :class:`FrontMap` and the sample's history end; with them, a share
        ``front_bias`` of the crops is centred near a pixel that burns at ``t + 1``.
    front_bias
        Probability of a front-biased crop (0 = uniform crops).
    """
    H, W = (int(v) for v in shape[-2:])
    th, tw = _pair(tile)
    th, tw = min(th, H), min(tw, W)
    if front is not None and t is not None and rng.random() < front_bias:
        w = front.weights(int(t))
        total = w.sum()
        if total > 0:
            k = int(rng.choice(w.size, p=(w / total).ravel()))
            by, bx = divmod(k, w.shape[1])
            b = front.block
            py = min(H - 1, by * b + int(rng.integers(0, b)))
            px = min(W - 1, bx * b + int(rng.integers(0, b)))
            y0 = int(rng.integers(max(0, py - th + 1), min(py, H - th) + 1))
            x0 = int(rng.integers(max(0, px - tw + 1), min(px, W - tw) + 1))
            return Tile(y0, x0, th, tw, None)
    y0 = int(rng.integers(0, H - th + 1))
    x0 = int(rng.integers(0, W - tw + 1))
    return Tile(y0, x0, th, tw, None)
