"""``tiny3d``: 3-D convolution over (time, y, x) on a fixed window of the last real frames."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from emberxr.layers import ConvBlock, groups_for

from .base import FireModel, ModelRequirements, apply_valid, last_frame, static_bands, steps_back


def history_window(batch: dict[str, Any], length: int) -> tuple[Tensor, Tensor, Tensor]:
    """The last ``length`` real frames right-aligned in a fixed window (zeros before them).

    Returns ``fire [B, L, H, W]``, ``wind [B, L, 2]``, ``valid [B, L]``; identical whatever the
    amount of left padding in the batch (so models built on it are padding invariant).
    """
    fire, wind, valid_t = batch["fire"], batch["wind"], batch["valid_t"].to(torch.bool)
    back = steps_back(valid_t)  # 0 = last real
    keep = valid_t & (back < length)
    slot = (length - 1 - back).clamp(0, length - 1)  # window position of each real step
    # one-hot map [B, L, T]: slot s takes time step t (at most one t per slot); a product with 0/1
    # weights is exact and keeps shapes static (no data-dependent indexing: traces and exports)
    pick = keep[:, None, :] & (slot[:, None, :] == torch.arange(length, device=fire.device)[None, :, None])
    out_f = torch.einsum("bst,bthw->bshw", pick.to(torch.float32), fire.to(torch.float32)).to(fire.dtype)
    out_w = torch.einsum("bst,btc->bsc", pick.to(torch.float32), wind.to(torch.float32)).to(wind.dtype)
    out_v = pick.any(dim=2)
    return out_f, out_w, out_v


class Tiny3D(FireModel):
    """Two 3-D conv layers over ``[fire, wind u, wind v, is-real]`` × the last ``max_history`` frames,
    then a 2-D head that also sees the last frame and the static bands.

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
    """

    name = "tiny3d"
    requires = ModelRequirements(tokens=False, max_history=8, uses_static=True, uses_wind=True)

    def __init__(self, in_static: int = 0, patch_size: int = 16, max_history: int = 8, hidden: int = 16):
        super().__init__()
        self.in_static = int(in_static)
        self.window = int(max_history)
        g = groups_for(hidden)
        self.conv3d = nn.Sequential(
            nn.Conv3d(4, hidden, (3, 3, 3), padding=1, bias=False),
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
        feat = self.conv3d(x)[:, :, -1]  # features at the last real step
        out = self.head(torch.cat([feat, last_frame(batch), static_bands(batch, self.in_static)], dim=1))
        return apply_valid(out, batch)
