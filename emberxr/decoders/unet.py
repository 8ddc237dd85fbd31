"""``unet``: segmentation-models-pytorch U-Net with a timm/ResNet encoder (optionally pretrained offline)."""

from __future__ import annotations

from torch import Tensor, nn

from ._smp import SmpDecoder


class UnetDecoder(SmpDecoder):
    """smp ``Unet`` over ``[projected, upsampled context ‖ fine features]`` at full resolution.

    Parameters
    ----------
    context_channels, fine_channels, patch_size
        See :mod:`emberxr.decoders.base`.
    weights
        None/False, True (the default ``unet-<encoder>.pt`` file) or a local encoder state-dict
        file (see :mod:`emberxr.decoders.weights`);
        the first conv is adapted to ``context_out + fine_channels`` input channels.
    encoder
        smp encoder name (``resnet18``, ``resnet34``, ``tu-<timm name>`` ...).
    encoder_depth
        Number of encoder stages used (3–5).
    decoder_channels
        smp decoder widths (one per stage).
    context_out
        Channels the context is projected to before upsampling.
    """

    name = "unet"

    def __init__(
        self,
        context_channels: int,
        fine_channels: int,
        patch_size: int = 16,
        weights: bool | str | None = None,
        encoder: str = "resnet18",
        encoder_depth: int = 4,
        decoder_channels: tuple[int, ...] | list[int] = (128, 64, 32, 16),
        context_out: int = 16,
    ):
        super().__init__()
        import segmentation_models_pytorch as smp

        decoder_channels = [int(c) for c in decoder_channels][:encoder_depth]
        self.ctx = nn.Conv2d(context_channels, context_out, 1)
        self.net = smp.Unet(
            encoder_name=encoder,
            encoder_depth=encoder_depth,
            encoder_weights=None,
            decoder_channels=decoder_channels,
            in_channels=context_out + fine_channels,
            classes=1,
        )
        self._load_encoder(weights, encoder, fine_channels)

    def forward(self, context: Tensor, fine: Tensor) -> Tensor:
        return self._run_net(self._net_input(context, fine))
