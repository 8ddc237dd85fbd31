"""Perimeter scores: Sørensen / Jaccard and the mean boundary distance, against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from emberxr.products.scoring import boundary, mean_boundary_distance, perimeter_scores


def _square(n, r0, r1, c0, c1):
    m = np.zeros((n, n), bool)
    m[r0:r1, c0:c1] = True
    return m


def _brute_distance(a, b, cell):
    """Symmetric mean of nearest boundary distances by brute force over every pair of cells."""
    pa = np.argwhere(boundary(a)) * np.asarray(cell)
    pb = np.argwhere(boundary(b)) * np.asarray(cell)
    d = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1))
    return (d.min(axis=1).mean() + d.min(axis=0).mean()) / 2


def test_identical_masks_score_perfectly():
    m = _square(20, 4, 12, 5, 15)
    s = perimeter_scores(m, m, initial=_square(20, 6, 10, 7, 12), cell_size=(30.0, 30.0))
    assert s == {"dice": 1.0, "jaccard": 1.0, "dice_new": 1.0, "mean_distance_m": 0.0}


def test_scores_of_shifted_and_grown_squares_match_hand_values():
    f = _square(30, 5, 15, 5, 15)  # 100 cells
    o = _square(30, 5, 15, 8, 18)  # shifted 3 columns: overlap 70
    s = perimeter_scores(f, o, cell_size=(30.0, 20.0))
    assert s["dice"] == pytest.approx(2 * 70 / 200)
    assert s["jaccard"] == pytest.approx(70 / 130)
    assert s["mean_distance_m"] == pytest.approx(_brute_distance(f, o, (30.0, 20.0)))
    assert 20.0 < s["mean_distance_m"] < 60.0  # about 3 columns of 20 m, less where the edges meet
    big = _square(30, 3, 20, 3, 20)
    assert mean_boundary_distance(f, big, (1.0, 1.0)) == pytest.approx(_brute_distance(f, big, (1.0, 1.0)))


def test_new_burn_dice_ignores_the_area_burning_at_issue():
    initial = _square(20, 5, 10, 5, 10)
    observed = _square(20, 4, 12, 4, 12)
    s = perimeter_scores(initial, observed, initial=initial)  # a forecast that copies the fire
    assert s["dice"] == pytest.approx(2 * 25 / (25 + 64))
    assert s["dice_new"] == 0.0
    assert np.isnan(s["mean_distance_m"])  # no cell size: no metres


def test_edge_cases_empty_masks_and_the_footprint():
    empty = np.zeros((10, 10), bool)
    some = _square(10, 2, 5, 2, 5)
    assert perimeter_scores(empty, empty, cell_size=(1, 1))["mean_distance_m"] == 0.0
    assert np.isnan(perimeter_scores(empty, some, cell_size=(1, 1))["mean_distance_m"])
    assert perimeter_scores(empty, some)["dice"] == 0.0
    valid = np.ones((10, 10), bool)
    valid[:, 4:] = False  # cells outside the footprint do not count
    s = perimeter_scores(_square(10, 2, 5, 2, 8), some, valid=valid)
    assert s["dice"] == 1.0
    # the grid's edge is not a perimeter
    full = np.ones((6, 6), bool)
    assert not boundary(full).any()
