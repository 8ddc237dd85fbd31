"""Vectorised patch tokens: cut ``[..., H, W]`` arrays into ``[..., N, p*p]`` patches and back.

Patches are cut with one reshape + transpose (no Python loop over patches); this is the only
place in emberxr that knows the token layout. Tokens are ordered row-major over the patch grid
``(Gy, Gx)`` (``n = gy * Gx + gx``) and pixels row-major inside a patch. Every function accepts
numpy arrays and torch tensors alike and returns the same kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emberxr.errors import ConfigError, Problem

__all__ = [
    "crop_to_multiple",
    "grid_shape",
    "pad_to_multiple",
    "patch_mean",
    "patchify",
    "unpatchify",
    "valid_token_mask",
]


def _err(what: str, fix: str) -> ConfigError:
    return ConfigError([Problem(what, fix)], subject="patch size")


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _check_p(p: int) -> int:
    if int(p) != p or p < 1:
        raise _err(f"patch size must be a positive integer, got {p!r}", "use e.g. patch_size=16")
    return int(p)


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


def patchify(x: Any, p: int) -> Any:
    """Cut ``[..., H, W]`` into tokens ``[..., N, p*p]`` with ``N = (H/p) * (W/p)``.

    ``H`` and ``W`` must be multiples of ``p`` (use :func:`pad_to_multiple` or
    :func:`crop_to_multiple` first). Works on numpy arrays and torch tensors; no copy is made
    beyond the one transpose.
    """
    p = _check_p(p)
    h, w = x.shape[-2:]
    if h % p or w % p:
        raise _err(
            f"raster of {h}×{w} is not a multiple of patch size {p}",
            "pad it with pad_to_multiple() (non-strict) or crop it with crop_to_multiple() (strict) first",
        )
    lead = tuple(x.shape[:-2])
    gy, gx = h // p, w // p
    k = len(lead)
    y = x.reshape(*lead, gy, p, gx, p)
    order = (*range(k), k, k + 2, k + 1, k + 3)
    y = y.permute(*order) if _is_torch(x) else y.transpose(order)
    return y.reshape(*lead, gy * gx, p * p)


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
