"""Stream an event's patch tokens stripe by stripe or tile by tile, never the whole raster.

Used by the patch cache builder and the memory benchmark: a stripe is ``rows`` patch rows of the
event (``rows * p`` pixel rows, the full width), read in one (Dask) compute, normalised, padded
and cut into tokens with one reshape. Because tokens are ordered row-major over the patch grid,
a stripe's tokens are the contiguous token range ``[gy0 * Gx, gy1 * Gx)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from emberxr.data.tiling import Tile, eval_tiles
from emberxr.schema import FIRE, STATIC, VALID
from emberxr.tokens import crop_to_multiple, grid_shape, make_tokens, pad_to_multiple, patch_grid, patchify

__all__ = ["Stripe", "iter_tile_tokens", "iter_token_stripes", "stripe_rows", "write_event_tokens"]


@dataclass
class Stripe:
    """Tokens of patch rows ``gy0:gy1`` (tokens ``n0:n1``) of one event, all time steps."""

    gy0: int
    gy1: int
    n0: int
    n1: int
    fire_tokens: np.ndarray  # uint8 [T, n, p*p]
    target_tokens: np.ndarray  # float32 [T, n]: patch mean of each frame over valid pixels
    static_tokens: np.ndarray  # float32 [n, Cs*p*p]
    valid_tokens: np.ndarray  # bool [n]
    valid: np.ndarray  # bool [rows*p, Gx*p] pixel validity (padding False)


def stripe_rows(n_t: int, width: int, p: int, n_static: int = 8, budget_bytes: int = 64 * 2**20) -> int:
    """Patch rows per stripe so one stripe's working set stays near ``budget_bytes``."""
    per_row = p * max(width, 1) * (n_t * (1 + 4 + 1) + n_static * 8 + 2)
    return max(1, int(budget_bytes // max(per_row, 1)))


def iter_token_stripes(
    event: xr.Dataset,
    p: int,
    *,
    strict: bool = False,
    stats: Any = None,
    rows: int | None = None,
) -> Iterator[Stripe]:
    """Yield the event's tokens stripe by stripe.

    Parameters
    ----------
    event
        A FireEvent, lazy (Dask) or in memory.
    p
        Patch size.
    strict
        Drop partial patches (crop) instead of padding them.
    stats
        ``NormStats`` for the static bands (``None`` = raw float32).
    rows
        Patch rows per stripe (default: :func:`stripe_rows`, ~64 MB working set).
    """
    import dask

    H, W = int(event.sizes["y"]), int(event.sizes["x"])
    T = int(event.sizes["time"])
    gy, gx = grid_shape(H, W, p, strict)
    Wc = gx * p if strict else W
    fire, static, valid = event[FIRE].data, event[STATIC].data, event[VALID].data
    if rows is None:
        rows = stripe_rows(T, W, p, int(event.sizes.get("band", 1)))
        # read whole source chunk rows when that costs at most 4x the budget: no chunk is read twice
        ch = fire.chunks[1][0] if hasattr(fire, "chunks") and fire.chunks else 0
        if ch and ch % p == 0 and rows * p % ch and ch // p <= 4 * rows:
            rows = max(ch // p, (rows * p // ch) * ch // p)
    for g0 in range(0, gy, rows):
        g1 = min(gy, g0 + rows)
        y0, y1 = g0 * p, min(g1 * p, H)
        parts = (fire[:, y0:y1, :Wc], static[:, y0:y1, :Wc], valid[y0:y1, :Wc])
        f, s, v = (np.asarray(a) for a in dask.compute(*parts, scheduler="synchronous"))
        burned = (f > 0).astype(np.uint8)
        s = np.asarray(stats.transform_static(s), np.float32) if stats is not None else s.astype(np.float32)
        s = np.nan_to_num(s, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        v = np.asarray(v, bool)
        if not strict:
            burned = pad_to_multiple(burned, p)[0]
            s = pad_to_multiple(s, p)[0]
            v = pad_to_multiple(v, p, value=False)[0]
        # every frame is some sample's target: target tokens of all T frames
        tok = make_tokens(burned, s, v, burned.astype(np.float32), p)
        yield Stripe(
            g0,
            g1,
            g0 * gx,
            g1 * gx,
            tok["fire_tokens"],
            tok["target_tokens"],
            tok["static_tokens"],
            tok["valid_tokens"],
            v,
        )


def _assemble_tokens(
    pieces: list[tuple[tuple[slice, ...], int, int, np.ndarray]],
    lead: tuple[int, ...],
    h: int,
    w: int,
    p: int,
    strict: bool,
    dtype: Any,
) -> np.ndarray | None:
    """Tokens ``[*lead, N, p*p]`` of an ``h × w`` window from the chunks covering it.

    Each piece is ``(lead_slices, r0, c0, array)`` in window coordinates; every piece is copied
    once, straight into its token slots (no concatenation first). Returns None when a piece does
    not start on the patch grid (the caller then concatenates and patchifies).
    """
    gy, gx = grid_shape(h, w, p, strict)
    pad = not strict and (h % p or w % p)
    out = (np.zeros if pad else np.empty)((*lead, gy, gx, p, p), dtype)
    for ls, r0, c0, a in pieces:
        if r0 % p or c0 % p:
            return None
        rh, cw = min(a.shape[-2], gy * p - r0), min(a.shape[-1], gx * p - c0)
        if rh <= 0 or cw <= 0:
            continue
        a = a[..., :rh, :cw]
        if rh % p or cw % p:
            if r0 + rh < h or c0 + cw < w:
                return None  # a chunk boundary inside the window is off the patch grid
            a = pad_to_multiple(a, p)[0]
        v = patch_grid(a, p)  # [..., nr, nc, p, p], a view
        nr, nc = v.shape[-4:-2]
        out[(*ls, slice(r0 // p, r0 // p + nr), slice(c0 // p, c0 // p + nc))] = v
    return out.reshape(*lead, gy * gx, p * p)


def _band_pieces(band: Any) -> list[tuple[tuple[slice, ...], int, int, np.ndarray]]:
    """Load a (Dask) band chunk by chunk: ``(lead_slices, r0, c0, array)`` per chunk."""
    if not type(band).__module__.startswith("dask"):
        a = np.asarray(band)
        return [(tuple(slice(None) for _ in a.shape[:-2]), 0, 0, a)]
    import dask

    blocks = band.to_delayed(optimize_graph=False)
    arrays = dask.compute(*blocks.ravel().tolist(), scheduler="synchronous")
    offsets = [np.concatenate([[0], np.cumsum(c)]) for c in band.chunks]
    pieces = []
    for idx, a in zip(np.ndindex(*blocks.shape), arrays):
        ls = tuple(slice(int(offsets[d][i]), int(offsets[d][i + 1])) for d, i in enumerate(idx[:-2]))
        pieces.append((ls, int(offsets[-2][idx[-2]]), int(offsets[-1][idx[-1]]), np.asarray(a)))
    return pieces


def iter_tile_tokens(
    fire: Any, p: int, tile: int = 512, overlap: int = 0, *, strict: bool = False
) -> Iterator[tuple[Tile, np.ndarray]]:
    """Tokenise a ``[..., H, W]`` raster tile by tile: xbatcher lays out the tiles, one (Dask)
    read per row of tiles, one vectorised reshape per tile.

    Only one row of tiles (``tile`` pixel rows × the full width) is in memory at a time. When the
    Dask chunks sit on the patch grid (e.g. 256-pixel chunks, ``p`` = 16) each chunk is copied
    once, straight into its token slots; otherwise the tile is concatenated then patchified.

    Parameters
    ----------
    fire
        ``xr.DataArray`` (with ``y``, ``x`` dims last), Dask or numpy array ``[..., H, W]``.
    p
        Patch size.
    tile, overlap
        Tile size (rounded down to a multiple of ``p``) and overlap, as :func:`eval_tiles`.
    strict
        Crop partial patches at the event edge instead of padding them.

    Yields
    ------
    (Tile, tokens)
        The tile and its tokens ``[..., n, p*p]`` (row-major over the tile's patch grid).
    """
    data = fire.data if isinstance(fire, xr.DataArray) else fire
    tile = max(p, (int(tile) // p) * p)
    lead = tuple(int(n) for n in data.shape[:-2])
    rows: dict[int, list[Tile]] = {}
    for t in eval_tiles(tuple(data.shape[-2:]), tile, overlap):
        rows.setdefault(t.y0, []).append(t)
    for y0, tiles in rows.items():
        pieces = _band_pieces(data[..., y0 : y0 + tiles[0].h, :])
        for t in tiles:
            x1 = t.x0 + t.w
            window = [
                (ls, r0, max(c0, t.x0) - t.x0, a[..., max(c0, t.x0) - c0 : min(c0 + a.shape[-1], x1) - c0])
                for ls, r0, c0, a in pieces
                if c0 < x1 and c0 + a.shape[-1] > t.x0
            ]
            tok = _assemble_tokens(window, lead, t.h, t.w, p, strict, data.dtype)
            if tok is None:
                x = np.zeros((*lead, t.h, t.w), data.dtype)
                for ls, r0, c0, a in window:
                    x[(*ls, slice(r0, r0 + a.shape[-2]), slice(c0, c0 + a.shape[-1]))] = a
                x = crop_to_multiple(x, p) if strict else pad_to_multiple(x, p)[0]
                tok = patchify(x, p)
            yield t, tok


def write_event_tokens(
    event: xr.Dataset, store: str, group: str, p: int, *, strict: bool = False, stats: Any = None
) -> dict[str, Any]:
    """Tokenise one event stripe by stripe into the zarr group ``store/group`` (the patch cache's
    per-event task; light to import on ``dask.distributed`` workers: no torch).

    Writes ``fire_tokens uint8 [T, N, p*p]``, ``target_tokens float32 [T, N]``,
    ``static_tokens float32 [N, Cs*p*p]``, ``valid_tokens bool [N]``, ``valid bool [Gy*p, Gx*p]``
    and ``wind float32 [T, 2]`` (normalised with ``stats`` when given).

    Returns
    -------
    dict
        ``group``, ``event_id``, ``n_t``, ``shape`` ``[H, W]`` and ``grid`` ``[Gy, Gx]``.
    """
    import zarr

    from emberxr.schema import BAND, wind_series

    H, W = int(event.sizes["y"]), int(event.sizes["x"])
    T = int(event.sizes["time"])
    gy, gx = grid_shape(H, W, p, strict)
    N = gy * gx
    cs = stats.n_static if stats is not None else int(event.sizes[BAND])
    g = zarr.open_group(store, path=group, mode="w", zarr_format=3)
    nchunk = max(1, min(N, max(gx, (2**18) // (p * p))))
    arrays = {
        "fire_tokens": g.create_array(
            "fire_tokens", shape=(T, N, p * p), dtype="uint8", chunks=(1, nchunk, p * p)
        ),
        "target_tokens": g.create_array("target_tokens", shape=(T, N), dtype="float32", chunks=(T, nchunk)),
        "static_tokens": g.create_array(
            "static_tokens", shape=(N, cs * p * p), dtype="float32", chunks=(nchunk, max(cs, 1) * p * p)
        ),
        "valid_tokens": g.create_array("valid_tokens", shape=(N,), dtype="bool", chunks=(max(N, 1),)),
        "valid": g.create_array(
            "valid", shape=(gy * p, gx * p), dtype="bool", chunks=(max(1, min(gy * p, 1024)), max(1, gx * p))
        ),
    }
    for s in iter_token_stripes(event, p, strict=strict, stats=stats):
        arrays["fire_tokens"][:, s.n0 : s.n1] = s.fire_tokens
        arrays["target_tokens"][:, s.n0 : s.n1] = s.target_tokens
        arrays["static_tokens"][s.n0 : s.n1] = s.static_tokens
        arrays["valid_tokens"][s.n0 : s.n1] = s.valid_tokens
        arrays["valid"][s.gy0 * p : s.gy1 * p] = s.valid
    wind = wind_series(event)
    if stats is not None:
        wind = stats.transform_wind(wind)
    g.create_array("wind", data=np.asarray(wind, np.float32))
    info = {"event_id": str(event.attrs.get("event_id", group)), "n_t": T, "shape": [H, W], "grid": [gy, gx]}
    g.attrs.update(info)
    return {"group": group, **info}
