"""The spatial decoder contract.

A decoder turns the patch context grid of a token model into sharp pixel logits::

    forward(context [B, d, Gy, Gx], fine [B, Cf, H, W]) -> logits [B, 1, H, W]

``fine`` holds full-resolution features (EmberFormer passes the last real fire frame, the active
front, the static bands, wind planes and the validity mask), so boundaries can follow pixels rather
than p×p blocks. Constructor keyword arguments are plain JSON-able values:
``context_channels`` (d), ``fine_channels`` (Cf), ``patch_size`` (p), ``weights`` (None, a local
file, or a hub name — see :mod:`emberxr.decoders.weights`) plus the decoder's own options.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn


class FireDecoder(nn.Module):
    """Base class of spatial decoders (registered in the ``emberxr.decoders`` entry-point group).

    Subclasses call ``super().__init__()``, then :meth:`_set_config` with every constructor keyword
    argument, and implement :meth:`forward`. Decoders with pretrained parts override
    :meth:`pretrained_parameters` so the model can freeze exactly those.
    """

    #: registry name, set by subclasses (used by ``register_decoder()`` without a name)
    name: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self._config: dict[str, Any] = {}

    def _set_config(self, **config: Any) -> None:
        self._config = dict(config)

    @property
    def config(self) -> dict[str, Any]:
        """The constructor keyword arguments that rebuild this decoder."""
        return dict(self._config)

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """Parameters that came from pretrained weights (empty when none were loaded)."""
        return []

    def forward(self, context: Tensor, fine: Tensor) -> Tensor:  # pragma: no cover - abstract
        """``context [B, d, Gy, Gx]``, ``fine [B, Cf, H, W]`` → logits ``[B, 1, H, W]``."""
        raise NotImplementedError
