"""Temporal collate: stack per-sample dicts into the batch dict, left-padding time.

``T_max`` is the longest history in the batch; shorter histories get zero frames *in front*, and
``valid_t [B, T_max]`` says which steps are real (True) — padding is never inferred from values,
so a real all-zero frame stays distinguishable from padding. Samples whose windows differ in size
(whole events of different shapes) are padded at the bottom / right to the largest size, with
``valid`` False there; their tokens move onto the common patch grid with
:func:`emberxr.tokens.pad_token_grid` (the new patches are all padding, so their tokens are zero in
either token mode and the others keep their values).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from emberxr.errors import ConfigError, Problem
from emberxr.tokens import TOKEN_AXES, pad_token_grid

__all__ = ["TIME_KEYS", "temporal_collate"]

#: keys whose first axis is time (left-padded)
TIME_KEYS = ("fire", "wind", "fire_tokens", "pixels", "dynamic", "dynamic_tokens")
_SPATIAL = ("fire", "static", "valid", "target", "pixels", "dynamic")


def _left_pad(x: torch.Tensor, T: int) -> torch.Tensor:
    n = T - x.shape[0]
    if n <= 0:
        return x
    return torch.cat([x.new_zeros((n, *x.shape[1:])), x], dim=0)


def _pad_hw(x: torch.Tensor, H: int, W: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    if (h, w) == (H, W):
        return x
    return F.pad(x, (0, W - w, 0, H - h), value=False if x.dtype == torch.bool else 0)


def _pad_tokens(s: dict[str, Any], p: int, H: int, W: int) -> None:
    """Move a sample's tokens onto the patch grid of an ``H × W`` window (see the module docstring)."""
    h, w = s["fire"].shape[-2:]
    grid, to = (h // p, w // p), (H // p, W // p)
    for key, axis in TOKEN_AXES.items():
        if key in s:
            s[key] = pad_token_grid(s[key], grid, to, token_axis=axis)


def temporal_collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Collate samples from :class:`~emberxr.data.datasets.FireSampleDataset` into a batch dict.

    Parameters
    ----------
    samples
        Per-sample dicts (``fire [T, H, W]``, ``wind [T, 2]``, ``static``, ``valid``, ``target``,
        ``hist_len``, ``patch_size``, ``grid``, ``meta`` and optionally ``dynamic [T, Cd, H, W]``,
        tokens / ``pixels``). Either every sample has ``dynamic`` or none does.

    Returns
    -------
    dict
        The batch dict of ``docs/architecture.md``: time-first keys left-padded to ``T_max``,
        ``valid_t [B, T_max]`` (True = real frame), ``hist_len [B]``, ``grid``, ``patch_size``,
        ``meta`` (list of dicts).
    """
    if not samples:
        raise ConfigError([Problem("temporal_collate got an empty batch", "give it at least one sample")])
    ps = {int(s["patch_size"]) for s in samples}
    if len(ps) > 1:
        raise ConfigError(
            [Problem(f"samples with different patch sizes {sorted(ps)} in one batch", "use one patch_size")],
            subject="temporal_collate",
        )
    p = ps.pop()
    hist = torch.tensor([int(s["hist_len"]) for s in samples], dtype=torch.int64)
    T = int(hist.max())
    H = max(int(s["fire"].shape[-2]) for s in samples)
    W = max(int(s["fire"].shape[-1]) for s in samples)
    with_dynamic = {"dynamic" in s for s in samples}
    if len(with_dynamic) > 1:
        raise ConfigError(
            [
                Problem(
                    "some samples have dynamic bands and others not",
                    "batch samples of events with the same dynamic bands (or none)",
                )
            ],
            subject="temporal_collate",
        )
    samples = [dict(s) for s in samples]
    for s in samples:
        if tuple(s["fire"].shape[-2:]) != (H, W):
            _pad_tokens(s, p, H, W)
            for k in _SPATIAL:
                if k in s:
                    s[k] = _pad_hw(s[k], H, W)
    batch: dict[str, Any] = {}
    keys = [k for k in samples[0] if k not in ("hist_len", "patch_size", "grid", "meta", "aug")]
    for k in keys:
        vals = [s[k] for s in samples]
        if not all(isinstance(v, torch.Tensor) for v in vals):
            batch[k] = vals
            continue
        if k in TIME_KEYS:
            vals = [_left_pad(v, T) for v in vals]
        batch[k] = torch.stack(vals)
    steps = torch.arange(T)
    batch["valid_t"] = steps[None, :] >= (T - hist)[:, None]
    batch["hist_len"] = hist
    batch["patch_size"] = p
    batch["grid"] = (H // p, W // p)
    batch["meta"] = [s.get("meta", {}) for s in samples]
    return batch
