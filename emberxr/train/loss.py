"""The training loss: weighted BCE + Dice, masked by the spatial validity mask.

``loss = bce_weight * BCE(logits, target; pos_weight) + dice_weight * Dice(sigmoid(logits), target)``
(the EmberFormer notes' formula with ``bce_weight=1``, ``dice_weight=0.1``). Only pixels where
``valid`` is True contribute: changing logits at invalid pixels never changes the loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from torch import Tensor, nn


def masked_bce(logits: Tensor, target: Tensor, valid: Tensor, pos_weight: float | Tensor = 1.0) -> Tensor:
    """Mean binary cross-entropy with logits over the valid pixels.

    Parameters
    ----------
    logits, target
        [B, 1, H, W] float tensors.
    valid
        [B, 1, H, W] bool tensor; False pixels are ignored.
    pos_weight
        Weight of the positive class (``negatives / positives`` balances the classes).
    """
    pw = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    per_px = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw, reduction="none")
    w = valid.to(per_px.dtype)
    return (per_px * w).sum() / w.sum().clamp_min(1.0)


def masked_dice(logits: Tensor, target: Tensor, valid: Tensor, eps: float = 1.0) -> Tensor:
    """Soft Dice loss ``1 - (2|P∩T| + eps) / (|P| + |T| + eps)`` per sample, averaged, valid pixels only."""
    p = torch.sigmoid(logits) * valid
    t = target * valid
    dims = tuple(range(1, p.ndim))
    inter = (p * t).sum(dims)
    denom = p.sum(dims) + t.sum(dims)
    return (1.0 - (2.0 * inter + eps) / (denom + eps)).mean()


class FireLoss(nn.Module):
    """Masked weighted BCE + Dice.

    Parameters
    ----------
    pos_weight
        BCE positive-class weight (see :func:`pos_weight_from_counts`).
    bce_weight, dice_weight
        Term weights (notes: 1 and 0.1).
    """

    def __init__(self, pos_weight: float = 1.0, bce_weight: float = 1.0, dice_weight: float = 0.1):
        super().__init__()
        self.pos_weight = float(pos_weight)
        self.bce_weight = float(bce_weight)
        self.dice_weight = float(dice_weight)

    def forward(self, logits: Tensor, target: Tensor, valid: Tensor) -> Tensor:
        """Loss of [B, 1, H, W] logits against targets, masked by ``valid``."""
        logits = logits.float()
        loss = self.bce_weight * masked_bce(logits, target, valid, self.pos_weight)
        if self.dice_weight:
            loss = loss + self.dice_weight * masked_dice(logits, target, valid)
        return loss

    def extra_repr(self) -> str:
        return (
            f"pos_weight={self.pos_weight:.3g}, bce_weight={self.bce_weight}, dice_weight={self.dice_weight}"
        )


def pos_weight_from_counts(n_pos: float, n_neg: float, max_weight: float = 50.0) -> float:
    """``n_neg / n_pos`` clipped to ``[1, max_weight]`` (1 when there are no positives)."""
    if n_pos <= 0:
        return 1.0
    return float(np.clip(n_neg / n_pos, 1.0, max_weight))


def pos_weight_from_events(events: Sequence[xr.Dataset], max_weight: float) -> float:
    """``negatives / positives`` of the next-frame targets of every sample, over valid pixels.

    Every frame after the first is the target of exactly one sample, whatever the history cap, so
    the count runs over frames ``1..T-1`` of each event.

    Parameters
    ----------
    events
        Training FireEvents (``fire`` and ``valid`` are read).
    max_weight
        Upper clip of the weight (see :func:`pos_weight_from_counts`).

    Returns
    -------
    float
        The BCE positive-class weight, in ``[1, max_weight]``.
    """
    pos = neg = 0.0
    for ev in events:
        fire = np.asarray(ev["fire"].values[1:]) > 0
        valid = np.asarray(ev["valid"].values, bool)
        p = float((fire & valid).sum())
        pos += p
        neg += float(valid.sum()) * fire.shape[0] - p
    return pos_weight_from_counts(pos, neg, max_weight)


def build_loss(training: Mapping[str, Any], train_events: Sequence[xr.Dataset]) -> FireLoss:
    """The loss of a configuration's ``training`` section; ``pos_weight: auto`` is counted on
    ``train_events`` (:func:`pos_weight_from_events`, capped at ``max_pos_weight``)."""
    pw = training["pos_weight"]
    if pw == "auto":
        pw = pos_weight_from_events(train_events, training["max_pos_weight"])
    return FireLoss(float(pw), training["bce_weight"], training["dice_weight"])
