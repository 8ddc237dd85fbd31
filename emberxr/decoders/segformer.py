"""``segformer``: segmentation-models-pytorch SegFormer (MiT-b0 encoder) plus a full-resolution refiner."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from emberxr.layers import ConvBlock

from ._smp import SmpDecoder
from .base import resize


class SegformerDecoder(SmpDecoder):
    """smp ``Segformer`` over ``[context ‖ fine]``; its 1/4-resolution head is refined at full resolution.

    SegFormer predicts at 1/4 resolution and upsamples; a small conv on ``[segformer features ‖
    fine features]`` restores pixel-sharp fire boundaries.

    Parameters
    ----------
    context_channels, fine_channels, patch_size
        See :mod:`emberxr.decoders.base`.
    weights
        None/False, True (the default ``segformer-<encoder>.pt`` file) or a local MiT encoder
        state-dict file (first conv adapted; see :mod:`emberxr.decoders.weights`).
    encoder
        smp MiT encoder (``mit_b0`` … ``mit_b5``).
    segmentation_channels
        Width of the SegFormer MLP head.
    refine_channels
        Channels SegFormer outputs for the refiner.
    context_out
        Channels the context is projected to before upsampling.
    """

    name = "segformer"

    def __init__(
        self,
        context_channels: int,
        fine_channels: int,
        patch_size: int = 16,
        weights: bool | str | None = None,
        encoder: str = "mit_b0",
        segmentation_channels: int = 64,
        refine_channels: int = 8,
        context_out: int = 16,
    ):
        super().__init__()
        import segmentation_models_pytorch as smp

        self.ctx = nn.Conv2d(context_channels, context_out, 1)
        self.net = smp.Segformer(
            encoder_name=encoder,
            encoder_weights=None,
            decoder_segmentation_channels=segmentation_channels,
            in_channels=context_out + fine_channels,
            classes=refine_channels,
        )
        self.refine = nn.Sequential(ConvBlock(refine_channels + fine_channels, 16, n=1), nn.Conv2d(16, 1, 1))
        self._load_encoder(weights, encoder, fine_channels)

    def forward(self, context: Tensor, fine: Tensor) -> Tensor:
        x = self._run_net(self._net_input(context, fine))
        if x.shape[-2:] != fine.shape[-2:]:
            x = resize(x, fine.shape[-2:])
        return self.refine(torch.cat([x, fine], dim=1))
