"""Masked weighted BCE + Dice."""

from __future__ import annotations

import math

import pytest
import torch

from emberxr.train.loss import (
    FireLoss,
    masked_bce,
    masked_dice,
    pos_weight_from_counts,
    pos_weight_from_events,
)


def _data():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 6, 6, generator=g)
    target = (torch.rand(2, 1, 6, 6, generator=g) > 0.7).float()
    valid = torch.ones(2, 1, 6, 6, dtype=torch.bool)
    valid[..., :, 4:] = False
    return logits, target, valid


def test_invalid_pixels_do_not_change_the_loss():
    logits, target, valid = _data()
    loss = FireLoss(pos_weight=3.0, dice_weight=0.1)
    a = loss(logits, target, valid)
    changed = logits.clone()
    changed[~valid] = 50.0
    assert loss(changed, target, valid).item() == pytest.approx(a.item(), rel=1e-6)
    changed[0, 0, 0, 0] += 1.0  # a valid pixel does change it
    assert loss(changed, target, valid).item() != pytest.approx(a.item(), rel=1e-6)


def test_bce_matches_hand_value_and_pos_weight():
    logits = torch.tensor([[[[0.0, 2.0]]]])
    target = torch.tensor([[[[1.0, 0.0]]]])
    valid = torch.ones_like(target, dtype=torch.bool)
    expect = (2 * math.log(2) + math.log(1 + math.exp(2))) / 2  # pos_weight 2 on the positive
    assert masked_bce(logits, target, valid, 2.0).item() == pytest.approx(expect, rel=1e-5)


def test_dice_is_zero_for_a_perfect_confident_prediction():
    target = torch.zeros(1, 1, 4, 4)
    target[..., 1:3, 1:3] = 1
    logits = (target * 2 - 1) * 30
    valid = torch.ones_like(target, dtype=torch.bool)
    assert masked_dice(logits, target, valid).item() == pytest.approx(0.0, abs=1e-4)
    assert masked_dice(-logits, target, valid).item() > 0.7


def test_pos_weight_from_counts():
    assert pos_weight_from_counts(10, 90) == pytest.approx(9.0)
    assert pos_weight_from_counts(0, 90) == 1.0
    assert pos_weight_from_counts(1, 1000, max_weight=50) == 50.0


def test_pos_weight_from_events_counts_the_targets_of_every_sample(make_synthetic_event):
    from emberxr.data.datasets import FireSampleDataset
    from emberxr.normalize import compute_stats

    evs = [make_synthetic_event(seed=s, steps=5, invalid_border=4) for s in range(2)]
    ds = FireSampleDataset(evs, compute_stats(evs), max_history=2, patch_size=8, train=False, preload=True)
    pos = neg = 0.0
    for i in range(len(ds)):  # the targets the loss actually sees, over valid pixels
        s = ds[i]
        t, v = s["target"] > 0.5, s["valid"].bool()
        pos += float((t & v).sum())
        neg += float((~t & v).sum())
    assert pos > 0
    assert pos_weight_from_events(evs, 1000.0) == pytest.approx(neg / pos)
    assert pos_weight_from_events(evs, 2.0) == 2.0
