"""An FPN decoder for emberxr (example plugin; see ``docs/plugins.md``).

The full-resolution features go up a small bottom-up pathway (1, 1/2, 1/4, 1/8 resolution); the
model's patch context is projected and added at the coarsest level; a top-down pathway with
lateral 1×1 connections carries it back to full resolution (Lin et al., 2017), and the merged
pyramid is turned into one logit per pixel.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from emberxr.decoders.base import FireDecoder, reject_weights, resize

__all__ = ["FPNDecoder"]
__version__ = "0.1.0"


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    groups = 4 if cout % 4 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.GroupNorm(groups, cout), nn.ReLU()
    )


class FPNDecoder(FireDecoder):
    """Feature Pyramid Network decoder.

    Parameters
    ----------
    context_channels
        Channels of the model's context grid.
    fine_channels
        Channels of the full-resolution features.
    patch_size
        Patch size of the context grid.
    weights
        Must be None (no pretrained weights for this decoder).
    width
        Channels of the bottom-up levels (doubled at each level, capped at 4×).
    pyramid
        Channels of the top-down (pyramid) features.
    levels
        Number of pyramid levels (1 = full resolution only).
    """

    name = "fpn"

    def __init__(
        self,
        context_channels: int,
        fine_channels: int,
        patch_size: int = 16,
        weights: str | None = None,
        width: int = 16,
        pyramid: int = 32,
        levels: int = 4,
    ):
        super().__init__()
        reject_weights("fpn", weights)
        widths = [width * min(2**i, 4) for i in range(levels)]
        self.bottom_up = nn.ModuleList(
            _conv(fine_channels if i == 0 else widths[i - 1], w, stride=1 if i == 0 else 2)
            for i, w in enumerate(widths)
        )
        self.lateral = nn.ModuleList(nn.Conv2d(w, pyramid, 1) for w in widths)
        self.context = nn.Conv2d(context_channels, pyramid, 1)
        self.smooth = nn.ModuleList(_conv(pyramid, pyramid) for _ in widths)
        self.head = nn.Conv2d(pyramid, 1, 1)

    def forward(self, context: Tensor, fine: Tensor) -> Tensor:
        feats = []
        x = fine
        for block in self.bottom_up:
            x = block(x)
            feats.append(x)
        top = feats[-1]
        y = self.lateral[-1](top) + resize(self.context(context), top.shape[-2:])
        merged = 0
        for i in reversed(range(len(feats))):
            if i < len(feats) - 1:
                y = F.interpolate(y, size=feats[i].shape[-2:], mode="nearest") + self.lateral[i](feats[i])
            p = self.smooth[i](y)
            merged = merged + resize(p, fine.shape[-2:])
        return self.head(merged)
