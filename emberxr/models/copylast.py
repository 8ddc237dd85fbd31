"""``copylast``: predict that the next fire mask equals the last real one (no parameters)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .base import FireModel, ModelRequirements, apply_valid, last_frame


class CopyLast(FireModel):
    """Persistence baseline: logits ``+logit`` where the last real frame burned, ``-logit`` elsewhere.

    Parameters
    ----------
    in_static, patch_size, max_history, in_dynamic
        Accepted for the common contract; unused (persistence reads only the last fire frame).
    logit
        Magnitude of the logits (8 → probabilities ≈ 0.9997 / 0.0003).
    """

    name = "copylast"
    requires = ModelRequirements(
        tokens=False, max_history=1, uses_static=False, uses_wind=False, uses_dynamic=False
    )

    def __init__(
        self,
        in_static: int = 0,
        patch_size: int = 16,
        max_history: int = 1,
        logit: float = 8.0,
        in_dynamic: int = 0,
    ):
        super().__init__()
        self.logit = float(logit)

    def forward(self, batch: dict[str, Any]) -> Tensor:
        last = last_frame(batch)
        return apply_valid(self.logit * (2.0 * (last > 0.5).float() - 1.0), batch)
