"""The spatial decoder contract.

A decoder turns the patch context grid of a token model into sharp pixel logits::

    forward(context [B, d, Gy, Gx], fine [B, Cf, H, W]) -> logits [B, 1, H, W]

``fine`` holds full-resolution features (EmberFormer passes the last real fire frame, the active
front, the static bands, wind planes and the validity mask), so boundaries can follow pixels rather
than p×p blocks. Constructor keyword arguments are plain JSON-able values (recorded by the base
class, see :mod:`emberxr.configurable`):
``context_channels`` (d), ``fine_channels`` (Cf), ``patch_size`` (p), ``weights`` (None/False, True
for the default weight file, or a local file — see :mod:`emberxr.decoders.weights`) plus the decoder's own options.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from emberxr.configurable import Configurable
from emberxr.errors import WeightsError


class FireDecoder(Configurable, nn.Module):
    """Base class of spatial decoders (registered in the ``emberxr.decoders`` entry-point group).

    Subclasses take keyword arguments, call ``super().__init__()`` and implement :meth:`forward`;
    the constructor arguments are recorded automatically (:attr:`config`). Decoders with
    pretrained parts override :meth:`pretrained_parameters` so the model can freeze exactly those.
    """

    #: registry name, set by subclasses (used by ``register_decoder()`` without a name)
    name: ClassVar[str]

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """Parameters that came from pretrained weights (empty when none were loaded)."""
        return []

    def forward(self, context: Tensor, fine: Tensor) -> Tensor:  # pragma: no cover - abstract
        """``context [B, d, Gy, Gx]``, ``fine [B, Cf, H, W]`` → logits ``[B, 1, H, W]``."""
        raise NotImplementedError


def resize(x: Tensor, size: Sequence[int]) -> Tensor:
    """Bilinearly resize feature maps ``[B, C, h, w]`` to ``size`` (``(H, W)``).

    Parameters
    ----------
    x
        Feature maps ``[B, C, h, w]``.
    size
        Target spatial size ``(H, W)``, e.g. ``fine.shape[-2:]``.

    Returns
    -------
    Tensor
        ``[B, C, H, W]`` (``align_corners=False``, the convention of every emberxr decoder).
    """
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def reject_weights(name: str, weights: bool | str | None, hint: str = "") -> None:
    """Fail clearly when a decoder without pretrained weights is given some.

    Parameters
    ----------
    name
        Registry name of the decoder (used in the message).
    weights
        The ``weights`` constructor argument; anything but None or False is an error.
    hint
        Optional extra advice appended to the message.

    Raises
    ------
    WeightsError
        ``weights`` is True or a path.
    """
    if weights is not None and weights is not False:
        raise WeightsError(
            f"the {name!r} decoder has no pretrained weights (got {weights!r}); set pretrained=false"
            + (f", {hint}" if hint else "")
        )
