"""``light``: a small convolutional decoder with no pretrained weights (the default; fast on CPU)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from emberxr.errors import ConfigError, Problem
from emberxr.layers import ConvBlock, groups_for

from .base import FireDecoder, reject_weights, resize

#: how a coarser map joins the next finer skip (``LightDecoder(merge=...)``)
MERGES = ("concat", "add")


class LightDecoder(FireDecoder):
    """Fuse the upsampled context with full-resolution features at 1/4, 1/2 and full resolution.

    The fine features are encoded at three scales (full, 1/2, 1/4); the context grid is projected
    and bilinearly resized to the 1/4 scale, fused, then refined while upsampling with the finer
    skips — a tiny U-Net whose bottleneck is the transformer context.

    Parameters
    ----------
    context_channels
        Channels of the context grid (the model's ``d_model``).
    fine_channels
        Channels of the full-resolution features.
    patch_size
        Patch size of the context grid (informative).
    weights
        Must be None or False (this decoder has no pretrained weights).
    widths
        Channels at full, 1/2 and 1/4 resolution. With the ``concat`` merge, ``(16, 16, 48)``
        forecasts about 11 % faster than ``(16, 32, 48)`` on a CPU, but at the ``make demo`` budget
        it scored a little lower (new-burn AP −0.004 to −0.011 over three seeds: ``emberxr ablate
        ablate_decoder_widths``, ``docs/results.md``).
    merge
        How the coarser map joins each finer skip on the way up (1/4 → 1/2 → full resolution).
        ``"add"`` (the default): a 3×3 convolution of the coarser map at its own resolution,
        upsampled, plus a 3×3 convolution of the skip (:class:`AddMerge`). ``"concat"`` (the
        default until checkpoint format 3, which older checkpoints load as): upsample the coarser
        map, concatenate it with the skip, one 3×3 convolution. Both have the same parameters;
        ``"add"`` runs the coarser map's convolution on a quarter of the pixels and concatenates
        nothing at full resolution, so the ``make demo`` EmberFormer forecasts about 13 % faster
        on a CPU, and at the demo's budget it scored the same (new-burn AP +0.002 / +0.001 on
        val / test over three seeds, inside the seed spread: ``emberxr ablate
        ablate_decoder_widths``, ``docs/results.md``).
    """

    name = "light"

    def __init__(
        self,
        context_channels: int,
        fine_channels: int,
        patch_size: int = 16,
        weights: bool | str | None = None,
        widths: tuple[int, int, int] | list[int] = (16, 32, 48),
        merge: str = "add",
    ):
        super().__init__()
        reject_weights(
            "light",
            weights,
            hint="or choose decoder='unet' or 'segformer' to load a local encoder weight file",
        )
        if merge not in MERGES:
            raise ConfigError(
                [Problem(f"merge={merge!r}", f"use one of {', '.join(map(repr, MERGES))}")],
                subject="light decoder",
            )
        w1, w2, w4 = (int(w) for w in widths)
        self.merge = merge
        self.enc1 = ConvBlock(fine_channels, w1, n=1)
        self.enc2 = ConvBlock(w1, w2, n=1, stride=2)
        self.enc4 = ConvBlock(w2, w4, n=1, stride=2)
        self.ctx = nn.Conv2d(context_channels, w4, 1)
        self.fuse4 = ConvBlock(2 * w4, w4, n=2)
        merger = AddMerge if merge == "add" else ConcatMerge
        self.fuse2 = merger(w4, w2, w2)
        self.fuse1 = merger(w2, w1, w1)
        self.head = nn.Conv2d(w1, 1, 1)

    def forward(self, context: Tensor, fine: Tensor) -> Tensor:
        f1 = self.enc1(fine)
        f2 = self.enc2(f1)
        f4 = self.enc4(f2)
        c = resize(self.ctx(context), f4.shape[-2:])
        x = self.fuse4(torch.cat([c, f4], dim=1))
        return self.head(self.fuse1(self.fuse2(x, f2), f1))


class ConcatMerge(ConvBlock):
    """``ConvBlock(concat(resize(coarse), skip))``: a coarser map joins a skip (the ``"concat"``
    merge; a :class:`ConvBlock` of one convolution, so its parameters keep their names).

    Parameters
    ----------
    coarse_channels, skip_channels, out_channels
        Channels of the coarser map, of the skip and of the output.
    """

    def __init__(self, coarse_channels: int, skip_channels: int, out_channels: int):
        super().__init__(coarse_channels + skip_channels, out_channels, n=1)

    def forward(self, coarse: Tensor, skip: Tensor) -> Tensor:  # type: ignore[override]
        """``coarse [B, Cc, h, w]``, ``skip [B, Cs, H, W]`` → ``[B, out_channels, H, W]``."""
        return super().forward(torch.cat([resize(coarse, skip.shape[-2:]), skip], dim=1))


class AddMerge(nn.Module):
    """``GELU(GroupNorm(resize(conv3x3(coarse)) + conv3x3(skip)))``: a coarser map joins a skip.

    Beside :class:`ConcatMerge` (the ``"concat"`` merge) it has
    the same parameters, and the two agree where the coarser map is constant; its coarse
    convolution spans 3 coarse pixels instead of 3 fine ones, and runs on a quarter of the pixels.

    Parameters
    ----------
    coarse_channels, skip_channels, out_channels
        Channels of the coarser map, of the skip and of the output.
    """

    def __init__(self, coarse_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.coarse = nn.Conv2d(coarse_channels, out_channels, 3, padding=1, bias=False)
        self.skip = nn.Conv2d(skip_channels, out_channels, 3, padding=1, bias=False)
        self.norm = nn.GroupNorm(groups_for(out_channels), out_channels)
        self.act = nn.GELU()

    def forward(self, coarse: Tensor, skip: Tensor) -> Tensor:
        """``coarse [B, Cc, h, w]``, ``skip [B, Cs, H, W]`` → ``[B, out_channels, H, W]``."""
        return self.act(self.norm(resize(self.coarse(coarse), skip.shape[-2:]) + self.skip(skip)))
