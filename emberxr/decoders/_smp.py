"""What the segmentation-models-pytorch decoders (``unet``, ``segformer``) share (private)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emberxr.channels import known_channel_names

from .base import FireDecoder, resize
from .weights import LoadReport, load_pretrained, resolve_weights


class SmpDecoder(FireDecoder):
    """A projected-context + fine-features input to an smp network ``net`` with an ``encoder``.

    Subclasses build ``self.ctx`` (1×1 projection of the context) and ``self.net``, then call
    :meth:`_load_encoder`. The encoder's input channels are ``[projected context ‖ fine]``; their
    names (:attr:`input_names`: ``context:0`` … then the ``fine`` names a model gave through
    :mod:`emberxr.channels`, or None when unknown) are what ``emberxr pretrain`` records and what a
    pretrained file is matched against.
    """

    ctx: nn.Conv2d
    net: nn.Module
    load_report: LoadReport | None
    input_names: list[str] | None

    def _load_encoder(self, weights: bool | str | None, encoder: str, fine_channels: int) -> None:
        """Load offline encoder weights: ``True`` = the default file of this decoder and ``encoder``
        (:func:`~emberxr.decoders.weights.default_weights_path`), a path = that file,
        ``None``/``False`` = keep the random initialisation.

        A decoder built on the ``meta`` device (a configuration's dry build) only checks that the
        file exists: there is nothing to copy values into.
        """
        fine = known_channel_names().get("fine")
        ctx = [f"context:{i}" for i in range(self.ctx.out_channels)]
        self.input_names = ctx + fine if fine is not None and len(fine) == int(fine_channels) else None
        self.load_report = None
        path = resolve_weights(weights, self.name, encoder)
        if path is None or self.ctx.weight.is_meta:
            return
        self.load_report = load_pretrained(
            self.net.encoder, path, input_names=self.input_names, expect={"encoder": encoder}
        )

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """The encoder's parameters when weights were loaded, else none."""
        return list(self.net.encoder.parameters()) if self.load_report is not None else []

    def _net_input(self, context: Tensor, fine: Tensor) -> Tensor:
        """``[projected context upsampled to H×W ‖ fine]``."""
        return torch.cat([resize(self.ctx(context), fine.shape[-2:]), fine], dim=1)

    def _run_net(self, x: Tensor) -> Tensor:
        """Run ``net`` on input of any size.

        smp encoders need ``H, W`` divisible by their output stride (16 or 32), stricter than the
        patch size: pad the bottom/right edges (replicate) up to a multiple and crop the output back.
        """
        H, W = x.shape[-2:]
        stride = int(self.net.encoder.output_stride)
        ph, pw = -H % stride, -W % stride
        if not (ph or pw):
            return self.net(x)
        out = self.net(F.pad(x, (0, pw, 0, ph), mode="replicate"))
        h, w = out.shape[-2:]
        return out[..., : h * H // (H + ph), : w * W // (W + pw)]
