"""Toy models with known behaviour for the forecast-product tests (no training needed)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emberxr.models.base import last_frame
from emberxr.normalize import compute_stats
from emberxr.testing import synthetic_event, synthetic_events


class Grow(torch.nn.Module):
    """Confident inside the fire, uncertain at its edge, near 0 far away: logits of a blurred
    last frame. ``calls`` counts forward passes and ``rows`` the samples they held."""

    def __init__(self, wind_gain: float = 0.0):
        super().__init__()
        self.wind_gain = wind_gain
        self.calls = 0
        self.rows = 0

    def forward(self, batch):
        self.calls += 1
        last = last_frame(batch)
        self.rows += last.shape[0]
        logits = 12.0 * F.avg_pool2d(last, 5, stride=1, padding=2) - 6.0
        if self.wind_gain:
            # more fire with more eastward wind at the last input frame (u, scaled)
            logits = logits + self.wind_gain * batch["wind"][:, -1, 0].view(-1, 1, 1, 1)
        return logits


@pytest.fixture
def make_grow():
    """``make_grow(wind_gain=0.0)``: a fresh :class:`Grow` model."""
    return Grow


@pytest.fixture
def scene():
    """(event, stats, forecast keyword arguments): a 48×64 synthetic event of 8 hourly frames
    with a 4-column invalid border."""
    event = synthetic_event(height=48, width=64, steps=8, invalid_border=4)
    stats = compute_stats(synthetic_events(3))
    return event, stats, {"max_history": 3, "patch_size": 16, "progress": False}
