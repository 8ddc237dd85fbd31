"""Neural-network building blocks shared by models and decoders.

A neutral module: models (:mod:`emberxr.models`) and decoders (:mod:`emberxr.decoders`) both import
it, and it imports neither, so the two packages do not depend on each other. Plugin authors may use
these blocks too.

- :func:`groups_for` — a GroupNorm group count that divides a channel count;
- :class:`ConvBlock` — ``n`` × (3×3 conv → GroupNorm → GELU);
- :func:`sincos_2d` — a fixed 2-D sine/cosine position code for any grid size;
- :class:`AttentionBlock` — a pre-norm transformer block with key padding masks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["AttentionBlock", "ConvBlock", "groups_for", "sincos_2d"]


def groups_for(channels: int, preferred: int = 8) -> int:
    """Largest group count ≤ ``preferred`` dividing ``channels`` (for GroupNorm)."""
    g = min(preferred, channels)
    while channels % g:
        g -= 1
    return max(g, 1)


class ConvBlock(nn.Sequential):
    """``n`` × (3×3 conv → GroupNorm → GELU); the first conv may be strided."""

    def __init__(self, cin: int, cout: int, n: int = 2, stride: int = 1):
        layers: list[nn.Module] = []
        for i in range(n):
            layers += [
                nn.Conv2d(
                    cin if i == 0 else cout, cout, 3, stride=stride if i == 0 else 1, padding=1, bias=False
                ),
                nn.GroupNorm(groups_for(cout), cout),
                nn.GELU(),
            ]
        super().__init__(*layers)


def sincos_2d(d: int, gy: int, gx: int, device: torch.device | None = None) -> Tensor:
    """Fixed 2-D sine/cosine position code ``[Gy*Gx, d]`` (works for any grid size)."""
    quarter = max(d // 4, 1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(quarter, device=device, dtype=torch.float32) / quarter)
    yy = torch.arange(gy, device=device, dtype=torch.float32)[:, None] * freq
    xx = torch.arange(gx, device=device, dtype=torch.float32)[:, None] * freq
    py = torch.cat([yy.sin(), yy.cos()], dim=1)  # [gy, 2q]
    px = torch.cat([xx.sin(), xx.cos()], dim=1)  # [gx, 2q]
    pe = torch.cat([py[:, None, :].expand(gy, gx, -1), px[None, :, :].expand(gy, gx, -1)], dim=-1)
    pe = pe.reshape(gy * gx, -1)
    if pe.shape[1] < d:
        pe = F.pad(pe, (0, d - pe.shape[1]))
    return pe[:, :d]


class AttentionBlock(nn.Module):
    """Pre-norm transformer block (multi-head self-attention + MLP) with key padding masks.

    Keys marked invalid take no part in the softmax; a row with no valid key attends to nothing
    (its attention output is zero: the block's output is the residual path only).

    Two paths compute the same attention. By default the fused
    :func:`torch.nn.functional.scaled_dot_product_attention` runs (one kernel, no ``[B, h, L, L]``
    weight tensor kept). When ``keep_weights`` is set the explicit path runs instead
    (``softmax(q kᵀ / √d_h)`` with ``-inf`` at invalid keys) and keeps the weights of the call in
    ``self.weights`` (``[B, heads, L, L]``); ``fused = False`` forces the explicit path without
    keeping the weights (for comparisons, e.g. ``benchmarks/bench_throughput.py``). Neither path has
    data-dependent Python control flow, so the block traces and exports (``torch.export``, ONNX).
    """

    def __init__(self, d: int, heads: int, dropout: float = 0.0, mlp_ratio: float = 2.0):
        super().__init__()
        if d % heads:
            raise ValueError(f"d_model={d} must be divisible by nhead={heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        hidden = int(d * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d))
        self.drop = nn.Dropout(dropout)
        self.attn_drop = dropout
        self.keep_weights = False
        self.fused = True
        self.weights: Tensor | None = None

    def _explicit(self, q: Tensor, k: Tensor, v: Tensor, key_valid: Tensor | None) -> Tensor:
        """The attention as written out: ``[B, h, L, d_h]`` (keeps the weights when asked)."""
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])  # [B, h, L, L]
        if key_valid is not None:
            scores = scores.masked_fill(~key_valid[:, None, None, :], float("-inf"))
            # a row without any valid key: finite scores (uniform softmax), zeroed just below
            none = ~key_valid.any(dim=1)
            scores = scores.masked_fill(none[:, None, None, None], 0.0)
        attn = torch.softmax(scores, dim=-1)
        if key_valid is not None:
            attn = attn * key_valid[:, None, None, :].to(attn.dtype)
        if self.keep_weights:
            self.weights = attn.detach()
        attn = F.dropout(attn, self.attn_drop, self.training)
        return attn @ v

    def _fused(self, q: Tensor, k: Tensor, v: Tensor, key_valid: Tensor | None) -> Tensor:
        """The same attention through ``scaled_dot_product_attention``."""
        p = self.attn_drop if self.training else 0.0
        if key_valid is None:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        # rows without a valid key attend to every key (finite), then their output is zeroed
        has_key = key_valid.any(dim=1)
        mask = (key_valid | ~has_key[:, None])[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return out * has_key[:, None, None, None].to(out.dtype)

    def forward(self, x: Tensor, key_valid: Tensor | None = None, query: Tensor | None = None) -> Tensor:
        """``x [B, L, d]``, ``key_valid [B, L]`` bool (True = attend) → ``[B, L, d]``.

        With ``query`` (``[B]`` positions) only those rows are computed, each attending to all of
        its sequence's keys as before: ``[B, d]``, equal to ``forward(x, key_valid)[arange(B),
        query]`` at a fraction of the cost (kept weights: ``[B, heads, 1, L]``). For a last
        layer whose other rows nobody reads.
        """
        B, L, d = x.shape
        h = self.norm1(x)
        q, k, v = self.qkv(h).reshape(B, L, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if query is not None:
            rows = torch.arange(B, device=x.device)
            q = q[rows, :, query][:, :, None]  # [B, heads, 1, d_h]
            x = x[rows, query][:, None]  # [B, 1, d]
        if key_valid is not None:
            key_valid = key_valid.to(torch.bool)
        if self.keep_weights or not self.fused:
            out = self._explicit(q, k, v, key_valid)
        else:
            out = self._fused(q, k, v, key_valid)
        out = out.transpose(1, 2).reshape(B, q.shape[2], d)
        x = x + self.drop(self.proj(out))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x if query is None else x[:, 0]
