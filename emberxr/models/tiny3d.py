"""``tiny3d``: 3-D convolution over (time, y, x) on a fixed window of the last real frames."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from emberxr.layers import ConvBlock, groups_for

from .base import (
    FireModel,
    ModelRequirements,
    apply_valid,
    dynamic_bands,
    last_frame,
    static_bands,
    steps_back,
)


def _window_pick(valid_t: Tensor, length: int) -> Tensor:
    """One-hot map ``[B, length, T]``: window slot ``s`` takes time step ``t`` (at most one ``t`` per
    slot) — the last ``length`` real steps right-aligned."""
    back = steps_back(valid_t)  # 0 = last real
    keep = valid_t & (back < length)
    slot = (length - 1 - back).clamp(0, length - 1)  # window position of each real step
    return keep[:, None, :] & (slot[:, None, :] == torch.arange(length, device=valid_t.device)[None, :, None])


def window_series(x: Tensor, valid_t: Tensor, length: int) -> Tensor:
    """The last ``length`` real steps of a time series ``x [B, T, ...]`` right-aligned in a fixed
    window ``[B, length, ...]`` (zeros before them), whatever the left padding.

    Shapes stay static (a gather by the one-hot map's index, no data-dependent indexing), so models
    built on it trace and export; values are copied exactly (NaN in unused steps never leaks in).
    """
    pick = _window_pick(valid_t.to(torch.bool), length)
    src = pick.to(torch.float32).argmax(dim=2)  # [B, length]: the step each slot takes
    tail = (1,) * (x.dim() - 2)
    idx = src.reshape(*src.shape, *tail).expand(-1, -1, *x.shape[2:])
    out = torch.gather(x, 1, idx)
    has = pick.any(dim=2).reshape(*src.shape, *tail)
    if x.dtype == torch.bool:  # (ONNX Runtime has no boolean Where)
        return out & has
    return torch.where(has, out, torch.zeros((), dtype=x.dtype, device=x.device))


def history_window(batch: dict[str, Any], length: int) -> tuple[Tensor, Tensor, Tensor]:
    """The last ``length`` real frames right-aligned in a fixed window (zeros before them).

    Returns ``fire [B, L, H, W]``, ``wind [B, L, 2]``, ``valid [B, L]``; identical whatever the
    amount of left padding in the batch (so models built on it are padding invariant).
    """
    valid_t = batch["valid_t"].to(torch.bool)
    fire = window_series(batch["fire"], valid_t, length)
    wind = window_series(batch["wind"], valid_t, length)
    return fire, wind, window_series(valid_t, valid_t, length)


class Tiny3D(FireModel):
    """Two 3-D conv layers over ``[fire, wind u, wind v, is-real, dynamic]`` × the last
    ``max_history`` frames, then a 2-D head that also sees the last frame and the static bands.

    Parameters
    ----------
    in_static
        Number of static bands.
    patch_size
        Common contract (unused).
    max_history
        Length of the time window (older frames are dropped, missing ones are zeros).
    hidden
        Channels of the 3-D and 2-D layers.
    in_dynamic
        Number of dynamic bands; each step's are extra channels of that step.
    """

    name = "tiny3d"
    requires = ModelRequirements(tokens=False, max_history=8, uses_static=True, uses_wind=True)

    def __init__(
        self,
        in_static: int = 0,
        patch_size: int = 16,
        max_history: int = 8,
        hidden: int = 16,
        in_dynamic: int = 0,
    ):
        super().__init__()
        self.in_static, self.in_dynamic = int(in_static), int(in_dynamic)
        self.window = int(max_history)
        g = groups_for(hidden)
        self.conv3d = nn.Sequential(
            nn.Conv3d(4 + self.in_dynamic, hidden, (3, 3, 3), padding=1, bias=False),
            nn.GroupNorm(g, hidden),
            nn.GELU(),
            nn.Conv3d(hidden, hidden, (3, 3, 3), padding=1, bias=False),
            nn.GroupNorm(g, hidden),
            nn.GELU(),
        )
        self.head = nn.Sequential(
            ConvBlock(hidden + 1 + self.in_static, hidden, n=1), nn.Conv2d(hidden, 1, 1)
        )

    def forward(self, batch: dict[str, Any]) -> Tensor:
        fire, wind, valid = history_window(batch, self.window)
        B, L, H, W = fire.shape
        x = torch.stack(
            [
                fire,
                wind[..., 0, None, None].expand(B, L, H, W),
                wind[..., 1, None, None].expand(B, L, H, W),
                valid[..., None, None].to(fire.dtype).expand(B, L, H, W),
            ],
            dim=1,
        )  # [B, 4, L, H, W]
        if self.in_dynamic:
            dyn = window_series(dynamic_bands(batch, self.in_dynamic), batch["valid_t"], self.window)
            x = torch.cat([x, dyn.transpose(1, 2).to(x.dtype)], dim=1)  # [B, 4 + Cd, L, H, W]
        feat = self.conv3d(x)[:, :, -1]  # features at the last real step
        out = self.head(torch.cat([feat, last_frame(batch), static_bands(batch, self.in_static)], dim=1))
        return apply_valid(out, batch)
