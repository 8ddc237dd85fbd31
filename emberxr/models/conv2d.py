"""``conv2d``: the notes' ConvHead2D — a small 2-D conv stack on the last frame, static bands, wind
and the last step's dynamic bands."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from emberxr.layers import ConvBlock

from .base import FireModel, ModelRequirements, apply_valid, last_step_inputs


class ConvHead2D(FireModel):
    """2-D convolution head over ``[last fire, static, wind u, wind v, last dynamic]`` at full resolution.

    Parameters
    ----------
    in_static
        Number of static bands (Cs).
    patch_size, max_history
        Common contract (history is not used: only the last real frame).
    hidden
        Channels of the hidden conv layers.
    layers
        Number of 3×3 conv layers before the 1×1 output conv.
    in_dynamic
        Number of dynamic bands (Cd); those of the last real step are extra input channels.
    """

    name = "conv2d"
    requires = ModelRequirements(tokens=False, max_history=1, uses_static=True, uses_wind=True)

    def __init__(
        self,
        in_static: int = 0,
        patch_size: int = 16,
        max_history: int = 1,
        hidden: int = 32,
        layers: int = 3,
        in_dynamic: int = 0,
    ):
        super().__init__()
        self.in_static, self.in_dynamic = int(in_static), int(in_dynamic)
        cin = 1 + self.in_static + 2 + self.in_dynamic
        self.body = nn.Sequential(
            ConvBlock(cin, hidden, n=1), *[ConvBlock(hidden, hidden, n=1) for _ in range(max(layers - 1, 0))]
        )
        self.head = nn.Conv2d(hidden, 1, 1)

    def forward(self, batch: dict[str, Any]) -> Tensor:
        x = last_step_inputs(batch, self.in_static, self.in_dynamic)
        return apply_valid(self.head(self.body(x)), batch)
