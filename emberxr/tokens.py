"""Patch tokens: the one owner of the token layout, for the data pipeline and the models alike.

A raster ``[..., H, W]`` (``H``, ``W`` multiples of the patch size ``p``) is cut into tokens
``[..., N, p*p]`` with one reshape + transpose, never a loop over patches. Tokens are ordered
row-major over the patch grid ``(Gy, Gx)`` (token ``n = gy * Gx + gx``) and pixels row-major inside
a patch (position ``i * p + j``). Static bands are folded channel-major: static ``[..., Cs, H, W]``
becomes ``[..., N, Cs*p*p]`` with pixel ``(c, i, j)`` of a patch at ``c*p*p + i*p + j``; dynamic
bands ``[..., T, Cd, H, W]`` are folded the same way per time step, ``[..., T, N, Cd*p*p]``.

Two token modes (:data:`TOKEN_MODES`) say what a token holds:

* ``"pixels"``: the patch's ``p*p`` pixels — ``fire_tokens [..., T, N, p*p]``,
  ``static_tokens [..., N, Cs*p*p]``, ``dynamic_tokens [..., T, N, Cd*p*p]``;
* ``"mean"``: one value per patch and channel, the mean over the patch's *valid* pixels (0 where
  a patch has none) — ``fire_tokens [..., T, N, 1]``, ``static_tokens [..., N, Cs]``,
  ``dynamic_tokens [..., T, N, Cd]``.

Every function accepts numpy arrays and torch tensors alike and returns the same kind; leading
axes (time, batch) are carried along. This module imports nothing from :mod:`emberxr.data` or
:mod:`emberxr.models` (both import it) and never imports torch itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from emberxr.errors import ConfigError, Problem

__all__ = [
    "TOKEN_AXES",
    "TOKEN_MODES",
    "check_token_shapes",
    "crop_to_multiple",
    "fold_static",
    "grid_shape",
    "make_tokens",
    "pad_to_multiple",
    "pad_token_grid",
    "patch_grid",
    "patch_mean",
    "patchify",
    "token_shapes",
    "tokenize_fire",
    "unfold_static",
    "unpatchify",
    "unpatchify_grid",
    "valid_token_mask",
]

#: what a token holds: the patch's pixels, or one mean per patch and channel
TOKEN_MODES = ("pixels", "mean")
#: the token entries of a sample / batch (``docs/architecture.md``, "The batch dict") and the axis
#: of each that runs over the N tokens
TOKEN_AXES = {
    "fire_tokens": -2,
    "static_tokens": -2,
    "dynamic_tokens": -2,
    "valid_tokens": -1,
    "target_tokens": -1,
}


def _err(what: str, fix: str, subject: str = "patch tokens") -> ConfigError:
    return ConfigError([Problem(what, fix)], subject=subject)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _check_p(p: int) -> int:
    if int(p) != p or p < 1:
        raise _err(f"patch size must be a positive integer, got {p!r}", "use e.g. patch_size=16")
    return int(p)


def _check_mode(mode: str) -> str:
    if mode not in TOKEN_MODES:
        raise _err(f"token mode {mode!r} is unknown", f"use one of {', '.join(TOKEN_MODES)}")
    return mode


def _swap_last2(x: Any) -> Any:
    """Swap the last two axes (a view for numpy and torch)."""
    return x.transpose(-2, -1) if _is_torch(x) else np.swapaxes(x, -2, -1)


def _contiguous(x: Any, float32: bool = False) -> Any:
    """A C-contiguous array / tensor (cast to float32 when asked)."""
    if _is_torch(x):
        import torch

        return (x.to(torch.float32) if float32 else x).contiguous()
    return np.ascontiguousarray(x, dtype=np.float32 if float32 else None)


# -- sizes ----------------------------------------------------------------------------------------
def grid_shape(height: int, width: int, p: int, strict: bool = False) -> tuple[int, int]:
    """Patch grid ``(Gy, Gx)`` of an ``height × width`` raster.

    Non-strict mode counts partial patches (the raster will be padded); strict mode drops them.
    """
    p = _check_p(p)
    if strict:
        return height // p, width // p
    return -(-height // p), -(-width // p)


def pad_to_multiple(x: Any, p: int, value: float = 0) -> tuple[Any, tuple[int, int]]:
    """Pad the last two axes at the bottom / right so they are multiples of ``p``.

    Returns
    -------
    padded, (pad_h, pad_w)
        The padded array (the input itself when no padding is needed) and the padding added.
    """
    p = _check_p(p)
    h, w = x.shape[-2:]
    ph, pw = (-h) % p, (-w) % p
    if ph == 0 and pw == 0:
        return x, (0, 0)
    if _is_torch(x):
        import torch.nn.functional as F

        return F.pad(x, (0, pw, 0, ph), value=value), (ph, pw)
    widths = [(0, 0)] * (x.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(x, widths, constant_values=value), (ph, pw)


def crop_to_multiple(x: Any, p: int) -> Any:
    """Crop the last two axes (keeping the top-left corner) to multiples of ``p`` (strict mode)."""
    p = _check_p(p)
    h, w = x.shape[-2:]
    return x[..., : h - h % p, : w - w % p]


# -- pixels <-> tokens ----------------------------------------------------------------------------
def patch_grid(x: Any, p: int) -> Any:
    """``[..., H, W]`` as a grid of patches ``[..., Gy, Gx, p, p]`` (a view: nothing is copied).

    :func:`patchify` is this grid flattened to ``[..., Gy*Gx, p*p]``; writers that fill token slots
    piece by piece (:mod:`emberxr.data.stripes`) assign into it directly.
    """
    p = _check_p(p)
    h, w = x.shape[-2:]
    if h % p or w % p:
        raise _err(
            f"raster of {h}×{w} is not a multiple of patch size {p}",
            "pad it with pad_to_multiple() (non-strict) or crop it with crop_to_multiple() (strict) first",
        )
    lead = tuple(x.shape[:-2])
    k = len(lead)
    y = x.reshape(*lead, h // p, p, w // p, p)
    order = (*range(k), k, k + 2, k + 1, k + 3)
    return y.permute(*order) if _is_torch(x) else y.transpose(order)


def patchify(x: Any, p: int) -> Any:
    """Cut ``[..., H, W]`` into tokens ``[..., N, p*p]`` with ``N = (H/p) * (W/p)``.

    ``H`` and ``W`` must be multiples of ``p`` (use :func:`pad_to_multiple` or
    :func:`crop_to_multiple` first). No copy is made beyond the one transpose.
    """
    g = patch_grid(x, p)
    gy, gx, p = g.shape[-4], g.shape[-3], g.shape[-1]
    return g.reshape(*g.shape[:-4], gy * gx, p * p)


def unpatchify(tokens: Any, p: int, grid: tuple[int, int]) -> Any:
    """Inverse of :func:`patchify`: ``[..., N, p*p]`` → ``[..., Gy*p, Gx*p]``."""
    p = _check_p(p)
    gy, gx = (int(g) for g in grid)
    n, d = tokens.shape[-2:]
    if n != gy * gx or d != p * p:
        raise _err(
            f"tokens of shape [..., {n}, {d}] do not match grid {gy}×{gx} with patch size {p} "
            f"(expected [..., {gy * gx}, {p * p}])",
            "pass the grid and patch size the tokens were made with",
        )
    lead = tuple(tokens.shape[:-2])
    k = len(lead)
    y = tokens.reshape(*lead, gy, gx, p, p)
    order = (*range(k), k, k + 2, k + 1, k + 3)
    y = y.permute(*order) if _is_torch(tokens) else y.transpose(order)
    return y.reshape(*lead, gy * p, gx * p)


def unpatchify_grid(features: Any, grid: tuple[int, int]) -> Any:
    """Per-token features ``[..., N, D]`` → feature maps on the patch grid ``[..., D, Gy, Gx]``."""
    gy, gx = grid  # no int(): symbolic sizes stay symbolic under torch.export
    n, d = features.shape[-2:]
    if n != gy * gx:
        raise _err(
            f"{n} token(s) do not fill a {gy}×{gx} patch grid ({gy * gx} tokens)",
            "pass the grid the tokens were cut on",
        )
    return _swap_last2(features).reshape(*features.shape[:-2], d, gy, gx)


def pad_token_grid(tokens: Any, grid: tuple[int, int], to: tuple[int, int], token_axis: int = -2) -> Any:
    """Tokens of a raster padded at the bottom / right so that its patch grid grows to ``to``.

    Padding pixels are zero (False) and invalid, so in both token modes every new patch gets a zero
    (False) token and the existing tokens keep their values: the result equals recutting the padded
    raster, without recomputing anything.

    Parameters
    ----------
    tokens
        ``[..., Gy*Gx, ...]`` tokens; ``token_axis`` is the axis of length ``Gy*Gx`` (``-2`` for
        ``fire_tokens`` / ``static_tokens``, ``-1`` for ``valid_tokens`` / ``target_tokens``).
    grid, to
        The current patch grid ``(Gy, Gx)`` and the larger one ``(Gy', Gx')``.
    """
    gy, gx = (int(g) for g in grid)
    ty, tx = (int(g) for g in to)
    shape = tuple(tokens.shape)
    ax = token_axis % len(shape)
    if shape[ax] != gy * gx or ty < gy or tx < gx:
        raise _err(
            f"tokens of shape {list(shape)} (axis {token_axis}) cannot go from a {gy}×{gx} to a {ty}×{tx} "
            "patch grid",
            "pass tokens cut on the grid `grid` and a grid `to` at least as large",
        )
    if (ty, tx) == (gy, gx):
        return tokens
    lead, tail = shape[:ax], shape[ax + 1 :]
    if _is_torch(tokens):
        out = tokens.new_zeros((*lead, ty, tx, *tail))
    else:
        out = np.zeros((*lead, ty, tx, *tail), tokens.dtype)
    out[(*(slice(None),) * ax, slice(0, gy), slice(0, gx))] = tokens.reshape(*lead, gy, gx, *tail)
    return out.reshape(*lead, ty * tx, *tail)


# -- masks and means --------------------------------------------------------------------------------
def valid_token_mask(valid: Any, p: int) -> Any:
    """Token validity ``[..., N]``: True where the patch holds at least one valid pixel.

    ``valid`` is a boolean ``[..., H, W]`` pixel mask (already padded / cropped to multiples of
    ``p``), normally the event footprint AND not spatial padding.
    """
    t = patchify(valid, p)
    return t.any(-1) if _is_torch(t) else t.any(axis=-1)


def patch_mean(x: Any, p: int, valid: Any | None = None) -> Any:
    """Mean of ``x [..., H, W]`` over each patch ``[..., N]``, over valid pixels only when ``valid``
    (broadcastable ``[..., H, W]`` bool) is given; patches with no valid pixel get 0."""
    t = patchify(x, p)
    if valid is None:
        return t.mean(-1) if _is_torch(t) else t.mean(axis=-1, dtype=np.float32)
    m = patchify(valid, p)
    if _is_torch(t):
        m = m.to(t.dtype)
        s = (t * m).sum(-1)
        c = m.sum(-1)
        return s / c.clamp(min=1)
    m = m.astype(np.float32)
    s = (t * m).sum(axis=-1, dtype=np.float32)
    c = m.sum(axis=-1)
    return (s / np.maximum(c, 1)).astype(np.float32)


# -- token making -----------------------------------------------------------------------------------
def _per_channel(valid: Any | None) -> Any | None:
    """A pixel mask ``[..., H, W]`` broadcast over the channel / time axis ``[..., 1, H, W]``."""
    return None if valid is None else valid[..., None, :, :]


def tokenize_fire(fire: Any, p: int, mode: str = "pixels", valid: Any | None = None) -> Any:
    """Fire tokens of a history ``[..., T, H, W]``.

    Parameters
    ----------
    fire
        Fire masks, ``H`` and ``W`` multiples of ``p``.
    p
        Patch size.
    mode
        ``"pixels"``: ``[..., T, N, p*p]`` (the input's dtype); ``"mean"``: ``[..., T, N, 1]``, the
        patch mean over valid pixels.
    valid
        Pixel validity ``[..., H, W]`` (without the time axis) for ``"mean"``; None = every pixel.
    """
    if _check_mode(mode) == "mean":
        return patch_mean(fire, p, _per_channel(valid))[..., None]
    return patchify(fire, p)


def fold_static(static: Any, p: int, mode: str = "pixels", valid: Any | None = None) -> Any:
    """Static tokens: fold the channels of ``static [..., Cs, H, W]`` into each patch's token.

    Parameters
    ----------
    static
        Static features, ``H`` and ``W`` multiples of ``p``.
    p
        Patch size.
    mode
        ``"pixels"``: ``[..., N, Cs*p*p]``, channel-major (pixel ``(c, i, j)`` of a patch at
        ``c*p*p + i*p + j``); ``"mean"``: ``[..., N, Cs]``, patch means over valid pixels.
    valid
        Pixel validity ``[..., H, W]`` (without the channel axis) for ``"mean"``; None = every pixel.

    See Also
    --------
    unfold_static : the inverse of the ``"pixels"`` fold.
    """
    if _check_mode(mode) == "mean":
        return _swap_last2(patch_mean(static, p, _per_channel(valid)))
    g = patch_grid(static, p)  # [..., Cs, Gy, Gx, p, p], a view
    g = g.movedim(-5, -3) if _is_torch(g) else np.moveaxis(g, -5, -3)  # [..., Gy, Gx, Cs, p, p]
    gy, gx, cs = g.shape[-5], g.shape[-4], g.shape[-3]
    return g.reshape(*g.shape[:-5], gy * gx, cs * p * p)  # one copy


def unfold_static(tokens: Any, p: int, grid: tuple[int, int]) -> Any:
    """Inverse of the ``"pixels"`` :func:`fold_static`: ``[..., N, Cs*p*p]`` → ``[..., Cs, Gy*p, Gx*p]``.

    (``"mean"`` tokens keep one value per patch: they have no pixel inverse.)
    """
    p = _check_p(p)
    d = tokens.shape[-1]
    if d % (p * p):
        raise _err(
            f"static tokens of width {d} are not a multiple of p*p = {p * p}",
            "pass 'pixels'-mode static tokens [..., N, Cs*p*p] and the patch size they were made with",
        )
    s = tokens.reshape(*tokens.shape[:-1], d // (p * p), p * p)  # [..., N, Cs, p*p]
    s = s.transpose(-3, -2) if _is_torch(s) else np.swapaxes(s, -3, -2)  # [..., Cs, N, p*p]
    return unpatchify(s, p, grid)


def make_tokens(
    fire: Any,
    static: Any,
    valid: Any,
    target: Any | None,
    p: int,
    mode: str = "pixels",
    dynamic: Any | None = None,
) -> dict[str, Any]:
    """The patch tokens of pixel arrays (``H``, ``W`` multiples of ``p``): numpy in, numpy out;
    torch in, torch out. Leading axes (e.g. a batch axis) are carried along. ``target=None`` (a
    forecast: there is no target) leaves out ``target_tokens``.

    Parameters
    ----------
    fire
        ``[..., T, H, W]`` history.
    static
        ``[..., Cs, H, W]`` normalised static features.
    valid
        ``[..., H, W]`` pixel validity.
    target
        ``[..., H, W]`` next fire mask (or ``[..., T', H, W]`` frames when ``valid`` broadcasts);
        None: no ``target_tokens``.
    p
        Patch size.
    mode
        ``"pixels"`` or ``"mean"`` (:data:`TOKEN_MODES`).
    dynamic
        ``[..., T, Cd, H, W]`` normalised dynamic bands of the history steps, or None.

    Returns
    -------
    dict
        C-contiguous ``fire_tokens [..., T, N, p*p | 1]`` (``fire``'s dtype in ``"pixels"`` mode,
        float32 in ``"mean"`` mode), ``static_tokens [..., N, Cs*p*p | Cs]`` float32,
        ``valid_tokens [..., N]`` bool and ``target_tokens [..., N]`` float32 (patch mean of the
        target over valid pixels); with ``dynamic`` also ``dynamic_tokens [..., T, N, Cd*p*p | Cd]``
        float32 (each step folded like the static bands).
    """
    out = {
        "fire_tokens": _contiguous(tokenize_fire(fire, p, mode, valid)),
        "static_tokens": _contiguous(fold_static(static, p, mode, valid), float32=True),
        "valid_tokens": _contiguous(valid_token_mask(valid, p)),
    }
    if target is not None:
        out["target_tokens"] = _contiguous(patch_mean(target, p, valid), float32=True)
    if dynamic is not None:
        # the pixel mask gets a time axis so it broadcasts over [..., T, Cd, H, W]
        v = None if valid is None else valid[..., None, :, :]
        out["dynamic_tokens"] = _contiguous(fold_static(dynamic, p, mode, v), float32=True)
    return out


# -- shapes -----------------------------------------------------------------------------------------
def token_shapes(
    n_t: int,
    grid: tuple[int, int],
    p: int,
    n_static: int,
    mode: str = "pixels",
    n_dynamic: int | None = None,
) -> dict[str, tuple]:
    """Shapes of one sample's tokens (no batch axis) in a token mode.

    Returns
    -------
    dict
        ``fire_tokens (T, N, p*p | 1)``, ``static_tokens (N, Cs*p*p | Cs)``, ``valid_tokens (N,)``,
        ``target_tokens (N,)``, and ``dynamic_tokens (T, N, Cd*p*p | Cd)`` when ``n_dynamic``
        (Cd) is given.
    """
    p = _check_p(p)
    n = int(grid[0]) * int(grid[1])
    pix = _check_mode(mode) == "pixels"
    out = {
        "fire_tokens": (int(n_t), n, p * p if pix else 1),
        "static_tokens": (n, int(n_static) * (p * p if pix else 1)),
        "valid_tokens": (n,),
        "target_tokens": (n,),
    }
    if n_dynamic is not None:
        out["dynamic_tokens"] = (int(n_t), n, int(n_dynamic) * (p * p if pix else 1))
    return out


def check_token_shapes(
    batch: Mapping[str, Any],
    p: int,
    n_static: int,
    mode: str = "pixels",
    keys: tuple[str, ...] = ("fire_tokens", "static_tokens", "dynamic_tokens"),
    subject: str = "batch tokens",
    n_dynamic: int = 0,
) -> None:
    """Raise if a batch's tokens do not have the layout a model expects.

    The expected shapes follow from ``batch["fire"] [B, T, H, W]``, the patch size, the number of
    static (and dynamic) bands and the token mode; absent keys are fine (the model cuts them from
    the pixels).

    Raises
    ------
    ConfigError
        Listing every token entry of the wrong shape (expected vs got) and how to fix it.
    """
    p = _check_p(p)
    if all(batch.get(key) is None for key in keys):
        return  # nothing to check (and no shape turned into a Python int: export keeps it symbolic)
    B, T, H, W = (int(n) for n in batch["fire"].shape)
    grid = (H // p, W // p)
    want = {m: token_shapes(T, grid, p, n_static, m, n_dynamic) for m in TOKEN_MODES}
    problems = []
    for key in keys:
        got = batch.get(key)
        if got is None:
            continue
        shape = tuple(int(n) for n in got.shape)
        expected = (B, *want[mode][key])
        if shape == expected:
            continue
        other = [m for m in TOKEN_MODES if m != mode and shape == (B, *want[m][key])]
        hint = f" (the layout of token_mode={other[0]!r})" if other else ""
        problems.append(
            Problem(
                f"{key} has shape {list(shape)}{hint}, expected {list(expected)} for token_mode={mode!r}, "
                f"patch_size={p}, {n_static} static band(s), {n_dynamic} dynamic band(s) and fire "
                f"{[B, T, H, W]}",
                f"build the batch with the model's settings (FireSampleDataset(tokens=True, "
                f"token_mode={mode!r}, patch_size={p}) + temporal_collate, or emberxr.tokens.make_tokens), "
                f"or leave {key!r} out so the model cuts it from the pixels",
            )
        )
    if problems:
        raise ConfigError(problems, subject=subject)
