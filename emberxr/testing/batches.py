"""Synthetic batches following the batch contract (``docs/architecture.md``), and batch edits.

:func:`make_batch` builds a small batch of growing elliptical fires with every key a model may
read; :func:`add_tokens`, :func:`pad_history`, :func:`select` and :func:`copy_batch` derive the
variants the conformance checks (:mod:`emberxr.testing.conformance`) feed to a model.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

__all__ = ["add_tokens", "copy_batch", "make_batch", "pad_history", "select"]


def make_batch(
    B: int = 2,
    T: int = 4,
    H: int = 32,
    W: int = 32,
    in_static: int = 3,
    patch_size: int = 8,
    hist_lens: Sequence[int] | None = None,
    seed: int = 0,
    tokens: bool = True,
    invalid_cols: int = 4,
    token_mode: str = "pixels",
    in_dynamic: int = 0,
) -> dict[str, Any]:
    """A synthetic batch following the batch contract (``docs/architecture.md``).

    Each sample is a fire growing as an ellipse from a random ignition, pushed by a random wind.
    Histories are left-padded to ``T`` (``hist_lens`` default: ``T, T-1, ...`` down to 1), and the
    last sample has its rightmost ``invalid_cols`` columns marked invalid.

    Parameters
    ----------
    B, T, H, W
        Batch size, padded history length, tile size (``H, W`` multiples of ``patch_size``).
    in_static
        Number of static bands.
    patch_size
        p, for the token entries and ``grid``.
    hist_lens
        Real frames per sample (each 1..T).
    seed
        Random seed (numpy and torch are not touched globally).
    tokens
        Also add ``fire_tokens``, ``static_tokens``, ``valid_tokens``, ``target_tokens``.
    invalid_cols
        Columns marked invalid in the last sample (0 = all valid).
    token_mode
        How the tokens are cut (:data:`emberxr.tokens.TOKEN_MODES`).
    in_dynamic
        Number of dynamic bands: with ``in_dynamic > 0`` the batch has ``dynamic [B, T, Cd, H, W]``
        (smooth random fields per real step, zeros at padded steps); 0 = no ``dynamic`` key.

    Returns
    -------
    dict
        The batch dict with torch tensors.
    """
    import numpy as np
    import torch

    if H % patch_size or W % patch_size:
        raise ValueError(f"H={H} and W={W} must be multiples of patch_size={patch_size}")
    rng = np.random.default_rng(seed)
    if hist_lens is None:
        hist_lens = [max(T - i, 1) for i in range(B)]
    hist_lens = [int(h) for h in hist_lens]
    if len(hist_lens) != B or not all(1 <= h <= T for h in hist_lens):
        raise ValueError(f"hist_lens must hold B={B} values in 1..T={T}, got {hist_lens}")
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    fire = np.zeros((B, T, H, W), np.float32)
    wind = np.zeros((B, T, 2), np.float32)
    target = np.zeros((B, 1, H, W), np.float32)
    valid_t = np.zeros((B, T), bool)
    valid = np.ones((B, 1, H, W), bool)
    if invalid_cols:
        valid[-1, :, :, W - invalid_cols :] = False
    static = rng.normal(0, 1, (B, in_static, H, W)).astype(np.float32)
    dynamic = np.zeros((B, T, in_dynamic, H, W), np.float32)
    for b, n in enumerate(hist_lens):
        cy, cx = rng.uniform(0.3, 0.7) * H, rng.uniform(0.3, 0.7) * W
        u, v = rng.normal(0, 1, 2)
        rate = rng.uniform(1.0, 2.5)
        frames = []
        for k in range(n + 1):
            r = rate * (k + 1)
            dy, dx = yy - (cy - 0.6 * v * k), xx - (cx + 0.6 * u * k)
            frames.append(((dy / r) ** 2 + (dx / (1.4 * r)) ** 2 <= 1.0).astype(np.float32))
        frames = np.maximum.accumulate(np.stack(frames), axis=0) * valid[b, 0]
        fire[b, T - n :] = frames[:n]
        target[b, 0] = frames[n]
        valid_t[b, T - n :] = True
        wind[b, T - n :] = np.array([u, v], np.float32) + rng.normal(0, 0.1, (n, 2)).astype(np.float32)
        if in_dynamic:  # smooth fields: a random plane plus noise, per step and band
            gy, gx, c = (rng.normal(0, 1, (n, in_dynamic, 1, 1)).astype(np.float32) for _ in range(3))
            noise = rng.normal(0, 0.2, (n, in_dynamic, H, W)).astype(np.float32)
            dynamic[b, T - n :] = gy * (yy / H - 0.5) + gx * (xx / W - 0.5) + c + noise
    batch: dict[str, Any] = {
        "fire": torch.from_numpy(fire),
        "valid_t": torch.from_numpy(valid_t),
        "hist_len": torch.tensor(hist_lens, dtype=torch.int64),
        "wind": torch.from_numpy(wind),
        "static": torch.from_numpy(static),
        "valid": torch.from_numpy(valid),
        "target": torch.from_numpy(target),
        "patch_size": int(patch_size),
        "grid": (H // patch_size, W // patch_size),
        "meta": [{"event_id": f"synthetic-{b}", "t": hist_lens[b] - 1, "y0": 0, "x0": 0} for b in range(B)],
    }
    if in_dynamic:
        batch["dynamic"] = torch.from_numpy(dynamic)
    if tokens:
        add_tokens(batch, token_mode)
    return batch


def add_tokens(batch: dict[str, Any], token_mode: str = "pixels") -> dict[str, Any]:
    """Add the token entries of the batch contract, cut from ``fire``/``static``/``valid``/``target``
    (and ``dynamic``) by :func:`emberxr.tokens.make_tokens` in ``token_mode``."""
    from emberxr.tokens import make_tokens

    tokens = make_tokens(
        batch["fire"],
        batch["static"],
        batch["valid"][:, 0],
        batch["target"][:, 0],
        int(batch["patch_size"]),
        token_mode,
        dynamic=batch.get("dynamic"),
    )
    batch.update(tokens)
    return batch


def pad_history(batch: dict[str, Any], extra: int) -> dict[str, Any]:
    """A copy of ``batch`` with ``extra`` more padded frames in front (zeros, ``valid_t`` False)."""
    import torch

    out = dict(batch)
    for key in ("fire", "wind", "fire_tokens", "dynamic", "dynamic_tokens"):
        if key in batch:
            x = batch[key]
            out[key] = torch.cat([x.new_zeros((x.shape[0], extra, *x.shape[2:])), x], dim=1)
    vt = batch["valid_t"]
    out["valid_t"] = torch.cat([vt.new_zeros((vt.shape[0], extra)), vt], dim=1)
    return out


def select(batch: dict[str, Any], index: Sequence[int]) -> dict[str, Any]:
    """The sub-batch of the given sample indices."""
    import torch

    idx = torch.as_tensor(list(index), dtype=torch.int64)
    out = {}
    for key, val in batch.items():
        if isinstance(val, torch.Tensor) and val.dim() > 0 and val.shape[0] == batch["fire"].shape[0]:
            out[key] = val[idx]
        elif key == "meta":
            out[key] = [val[i] for i in index]
        else:
            out[key] = val
    return out


def copy_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``batch``: every tensor cloned, every other value (``meta``, ``grid``) copied."""
    import torch

    return {
        key: val.detach().clone() if isinstance(val, torch.Tensor) else copy.deepcopy(val)
        for key, val in batch.items()
    }
