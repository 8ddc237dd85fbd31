"""Streaming metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from emberxr.train.metrics import (
    MetricAccumulator,
    best_f1_from_histogram,
    history_bucket,
    scores,
    write_table,
)


def _t(a):
    return torch.tensor(np.asarray(a, dtype=np.float32))[None, None]


def test_counts_precision_recall_f1_iou_by_hand():
    # 2x3 grid, last column invalid
    logits = _t([[5, 5, 9], [-5, 5, 9]])
    target = _t([[1, 0, 1], [1, 1, 1]])
    last = _t([[1, 0, 0], [0, 0, 0]])
    valid = _t([[1, 1, 0], [1, 1, 0]]).bool()
    acc = MetricAccumulator(0.5)
    acc.update(logits, target, valid, last, [3], ["ev"])
    r = acc.result("next")
    # valid: (0,0) p1 t1 TP, (0,1) p1 t0 FP, (1,0) p0 t1 FN, (1,1) p1 t1 TP
    assert (r["precision"], r["recall"]) == pytest.approx((2 / 3, 2 / 3))
    assert r["f1"] == pytest.approx(2 / 3) and r["iou"] == pytest.approx(0.5)
    new = acc.result("new")  # excludes (0,0) burning at t: FP (0,1), FN (1,0), TP (1,1)
    assert (new["precision"], new["recall"], new["iou"]) == pytest.approx((0.5, 0.5, 1 / 3))
    assert new["n_pixels"] == 3 and new["n_positive"] == 2


def test_ap_matches_sklearn_on_distinct_scores():
    rng = np.random.default_rng(0)
    scores_ = rng.normal(size=200).astype(np.float32) * 3
    labels = (rng.random(200) < 1 / (1 + np.exp(-scores_))).astype(np.float32)
    acc = MetricAccumulator()
    acc.update(
        _t(scores_.reshape(10, 20)),
        _t(labels.reshape(10, 20)),
        _t(np.ones((10, 20))).bool(),
        _t(np.zeros((10, 20))),
        [1],
    )
    assert acc.result("next")["ap"] == pytest.approx(average_precision_score(labels, scores_), abs=0.01)


def test_best_threshold_separates_perfectly_separable_scores():
    acc = MetricAccumulator()
    logits = _t([[-3, -2, 1, 2]])
    acc.update(logits, _t([[0, 0, 1, 1]]), _t([[1, 1, 1, 1]]).bool(), _t([[0, 0, 0, 0]]), [1])
    r = acc.result("next")
    assert r["best_f1"] == pytest.approx(1.0) and r["ap"] == pytest.approx(1.0)
    assert 1 / (1 + np.exp(2)) < r["best_threshold"] < 1 / (1 + np.exp(-1))
    hist = np.zeros((2, 3200), np.int64)
    assert best_f1_from_histogram(hist)[0] == 0.0


def test_history_buckets_and_per_event_groups():
    assert [history_bucket(h) for h in (1, 2, 3, 4, 5, 6, 7, 20)] == [
        "1-2",
        "1-2",
        "3-4",
        "3-4",
        "5-6",
        "5-6",
        "7+",
        "7+",
    ]
    acc = MetricAccumulator()
    z = torch.zeros(3, 1, 2, 2)
    acc.update(z + 5, z + 1, torch.ones(3, 1, 2, 2, dtype=torch.bool), z, [1, 4, 9], ["a", "b", "a"])
    df = acc.table(model="m")
    hist = df[(df.scope == "history") & (df.target == "next")]
    assert hist["group"].tolist() == ["1-2", "3-4", "7+"] and hist["n_samples"].tolist() == [1, 1, 1]
    ev = df[(df.scope == "event") & (df.target == "next")]
    assert dict(zip(ev["group"], ev["n_samples"])) == {"a": 2, "b": 1}
    assert {"model", "target", "scope", "group", "precision", "recall", "f1", "iou", "ap"} <= set(df.columns)


def test_scores_edge_cases_and_table_files(tmp_path):
    assert scores(0, 0, 0)["f1"] == 1.0 and scores(0, 3, 0)["precision"] == 0.0
    acc = MetricAccumulator()
    acc.update(
        torch.zeros(1, 1, 2, 2),
        torch.ones(1, 1, 2, 2),
        torch.ones(1, 1, 2, 2, dtype=bool),
        torch.zeros(1, 1, 2, 2),
        [2],
    )
    write_table(acc.table(), str(tmp_path / "t.md"))
    write_table(acc.table(), str(tmp_path / "t.csv"))
    assert (tmp_path / "t.md").read_text().startswith("| target")
    assert (tmp_path / "t.csv").read_text().startswith("target,scope,group")
