"""``unets``: a small U-Net on the last real frame, static bands, wind and the last step's dynamic
bands (the notes' UNetS)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emberxr.layers import ConvBlock

from .base import FireModel, ModelRequirements, apply_valid, last_step_inputs


class UNetS(FireModel):
    """Small U-Net (GroupNorm, GELU) over ``[last fire, static, wind u, wind v, last dynamic]``.

    Parameters
    ----------
    in_static
        Number of static bands.
    patch_size, max_history
        Common contract (only the last frame is used). ``H, W`` must be divisible by
        ``2 ** (len(widths) - 1)``.
    widths
        Channels per level, finest first.
    in_dynamic
        Number of dynamic bands; those of the last real step are extra input channels.
    """

    name = "unets"
    requires = ModelRequirements(tokens=False, max_history=1, uses_static=True, uses_wind=True)

    def __init__(
        self,
        in_static: int = 0,
        patch_size: int = 16,
        max_history: int = 1,
        widths: tuple[int, ...] | list[int] = (16, 32, 64),
        in_dynamic: int = 0,
    ):
        super().__init__()
        widths = [int(w) for w in widths]
        self.in_static, self.in_dynamic = int(in_static), int(in_dynamic)
        cin = 1 + self.in_static + 2 + self.in_dynamic
        self.down = nn.ModuleList()
        for i, w in enumerate(widths):
            self.down.append(ConvBlock(cin if i == 0 else widths[i - 1], w, stride=1 if i == 0 else 2))
        self.up = nn.ModuleList(
            ConvBlock(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(len(widths) - 1))
        )
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, batch: dict[str, Any]) -> Tensor:
        x = last_step_inputs(batch, self.in_static, self.in_dynamic)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return apply_valid(self.head(x), batch)
