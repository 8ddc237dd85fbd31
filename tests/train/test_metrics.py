"""Streaming metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from emberxr.train.metrics import (
    MetricAccumulator,
    ScoreCounts,
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


def _update_in_batches(acc, logits, labels, n_batches=5):
    """Feed flat scores to an accumulator as several [B, 1, 1, W] batches."""
    for x, y in zip(np.array_split(logits, n_batches), np.array_split(labels, n_batches)):
        t = torch.from_numpy(np.ascontiguousarray(x, np.float32)).reshape(1, 1, 1, -1)
        acc.update(
            t,
            torch.from_numpy(y.astype(np.float32)).reshape(t.shape),
            torch.ones_like(t, dtype=bool),
            torch.zeros_like(t),
            [1],
        )


def _sklearn_ap(labels, logits):
    """scikit-learn's AP on the same ranking (it refuses infinities: map them to huge finite values)."""
    x = np.nan_to_num(np.asarray(logits, np.float32).astype(np.float64), posinf=1e300, neginf=-1e300)
    return average_precision_score(labels, x)


def _confident(n=20000, scale=40.0, seed=0):
    """A confident model: logits spread over [-scale, scale], labels drawn from a softer posterior."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1, 1, n)
    labels = rng.random(n) < 1 / (1 + np.exp(-4 * z))
    return (z * scale).astype(np.float32), labels


def test_ap_matches_sklearn_on_confident_logits():
    logits, labels = _confident()
    acc = MetricAccumulator()
    _update_in_batches(acc, logits, labels)
    ref = _sklearn_ap(labels, logits)
    assert acc.result("next")["ap"] == pytest.approx(ref, abs=1e-9)
    # the former +-16 clamp tied every logit beyond 16 and missed scikit-learn by far more than 1e-3
    assert abs(_sklearn_ap(labels, np.clip(logits, -16, 16)) - ref) > 0.01


@pytest.mark.parametrize(
    "case", ["pm1e4", "infinite", "saturated", "near_constant", "constant", "ties", "all_positive"]
)
def test_ap_matches_sklearn_for_any_logit_range(case):
    rng = np.random.default_rng(1)
    logits, labels = _confident(5000, 40.0, seed=2)
    if case == "pm1e4":
        logits = logits * np.float32(250.0)
    elif case == "infinite":
        logits[np.abs(logits) > 30] = np.copysign(np.inf, logits[np.abs(logits) > 30])
    elif case == "saturated":  # a third of the pixels at the float32 maximum, a third at the minimum
        logits[:1600] = np.finfo(np.float32).max
        logits[1600:3200] = np.finfo(np.float32).min
    elif case == "near_constant":
        logits = np.float32(3.0) + rng.normal(size=logits.size).astype(np.float32) * np.float32(1e-6)
    elif case == "constant":
        logits = np.full(logits.size, -7.5, np.float32)
    elif case == "ties":
        logits = np.round(logits / 10).astype(np.float32)
    elif case == "all_positive":
        labels = np.ones_like(labels)
    acc = MetricAccumulator()
    _update_in_batches(acc, logits, labels, n_batches=7)
    assert acc.result("next")["ap"] == pytest.approx(_sklearn_ap(labels, logits), abs=1e-9)


def test_bounded_table_stays_within_1e3_of_sklearn():
    rng = np.random.default_rng(3)
    n = 200_000
    z = rng.normal(size=n) * 15
    labels = rng.random(n) < 1 / (1 + np.exp(-z / 3))
    logits = z.astype(np.float32)
    table = ScoreCounts(max_bins=1024)
    for x, y in zip(np.array_split(logits, 9), np.array_split(labels, 9)):
        table.add(x, y)
    lower, upper, counts = table.table()
    assert table.shift > 0 and counts.shape[1] <= 1024  # merged neighbours: memory stays bounded
    assert table.average_precision() == pytest.approx(_sklearn_ap(labels, logits), abs=1e-3)
    assert (lower <= upper).all() and (upper[:-1] < lower[1:]).all() and counts.sum() == n
    exact = ScoreCounts()
    exact.add(logits[:1000], labels[:1000])
    assert exact.table()[2].shape[1] == len(np.unique(logits[:1000])) and exact.shift == 0
    assert exact.average_precision() == pytest.approx(_sklearn_ap(labels[:1000], logits[:1000]), abs=1e-12)


def test_best_threshold_reproduces_the_best_f1_of_the_same_curve():
    from sklearn.metrics import precision_recall_curve

    logits, labels = _confident(8000, 40.0, seed=4)
    acc = MetricAccumulator()
    _update_in_batches(acc, logits, labels)
    r = acc.result("next")
    prec, rec, _ = precision_recall_curve(labels, logits.astype(np.float64))
    with np.errstate(invalid="ignore"):
        f1 = np.nan_to_num(2 * prec * rec / (prec + rec))
    assert r["best_f1"] == pytest.approx(f1.max(), abs=1e-12)
    again = MetricAccumulator(r["best_threshold"])  # the chosen threshold gives exactly that F1
    _update_in_batches(again, logits, labels)
    assert again.result("next")["f1"] == pytest.approx(r["best_f1"], abs=1e-12)


def test_best_threshold_separates_perfectly_separable_scores():
    acc = MetricAccumulator()
    logits = _t([[-3, -2, 1, 2]])
    acc.update(logits, _t([[0, 0, 1, 1]]), _t([[1, 1, 1, 1]]).bool(), _t([[0, 0, 0, 0]]), [1])
    r = acc.result("next")
    assert r["best_f1"] == pytest.approx(1.0) and r["ap"] == pytest.approx(1.0)
    assert r["best_threshold"] == 0.5  # the gap (-2, 1] holds logit 0
    far = MetricAccumulator()  # gap (20, 30]: the threshold sits in its middle, not on a score
    far.update(_t([[10, 20, 30, 40]]), _t([[0, 0, 1, 1]]), _t([[1, 1, 1, 1]]).bool(), _t([[0, 0, 0, 0]]), [1])
    assert far.result("next")["best_threshold"] == pytest.approx(1 / (1 + np.exp(-25.0)), abs=1e-15)
    assert ScoreCounts().best_f1() == (0.0, 0.5) and np.isnan(ScoreCounts().average_precision())


def test_nan_logits_are_refused():
    acc = MetricAccumulator()
    with pytest.raises(ValueError, match="1 NaN logit"):
        acc.update(_t([[0.0, np.nan]]), _t([[0, 1]]), _t([[1, 1]]).bool(), _t([[0, 0]]), [1])


def test_merged_shards_equal_one_pass_and_state_round_trips():
    logits, labels = _confident(6000, 40.0, seed=5)
    whole = MetricAccumulator(0.3)
    _update_in_batches(whole, logits, labels, n_batches=6)
    a, b = MetricAccumulator(0.3), MetricAccumulator(0.3)
    _update_in_batches(a, logits[:2500], labels[:2500], n_batches=2)
    _update_in_batches(b, logits[2500:], labels[2500:], n_batches=4)
    merged = MetricAccumulator.from_state(a.state())
    merged.merge(MetricAccumulator.from_state(b.state()))
    for family in ("next", "new"):
        assert merged.result(family) == whole.result(family)
    with pytest.raises(ValueError, match="threshold"):
        merged.merge(MetricAccumulator(0.5))


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
