"""Streaming pixel metrics for next-step fire prediction.

Two target families, both over valid pixels only:

``next``
    the fire mask at t+1 (cumulative burned area), every valid pixel;
``new``
    the **newly burned** pixels: target minus the last history frame. Scored over the valid pixels
    that are *not* already burned at t (the part persistence cannot get), so predicting the old
    scar neither helps nor hurts.

For each family and group (all samples, history-length buckets ``1-2, 3-4, 5-6, 7+``, each event)
the accumulator keeps

- exact confusion counts at a fixed threshold (precision, recall, F1, IoU), and
- a histogram of the positive and negative pixels' logits in ``N_BINS`` fixed bins, from which
  average precision (scikit-learn's ``average_precision_score`` with the bin counts as sample
  weights) and the best-F1 threshold are computed. Memory is bounded by the number of groups, not
  the number of pixels. Scores are binned on the logit scale (``[-LOGIT_RANGE, LOGIT_RANGE]``,
  width 0.01), so AP is exact up to ties inside a bin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

FAMILIES = ("next", "new")
LOGIT_RANGE = 16.0
N_BINS = 3200
HIST_BUCKETS = ((1, 2, "1-2"), (3, 4, "3-4"), (5, 6, "5-6"), (7, 10**9, "7+"))
METRIC_COLUMNS = ("precision", "recall", "f1", "iou", "ap", "best_f1", "best_threshold")


def _summary_items(prefix: str) -> dict[str, tuple[str, str]]:
    return {
        f"{prefix}{'' if family == 'next' else 'new_'}{k}": (family, k)
        for family in FAMILIES
        for k in METRIC_COLUMNS
    }


def summary_keys(prefix: str = "val/") -> list[str]:
    """The keys of :meth:`MetricAccumulator.summary` (``val/ap``, ``val/new_f1`` ...)."""
    return list(_summary_items(prefix))


def history_bucket(hist_len: int) -> str:
    """The stratum of a history length: ``"1-2"``, ``"3-4"``, ``"5-6"`` or ``"7+"``."""
    for lo, hi, name in HIST_BUCKETS:
        if lo <= hist_len <= hi:
            return name
    return "1-2"


def _edges() -> np.ndarray:
    return np.linspace(-LOGIT_RANGE, LOGIT_RANGE, N_BINS + 1)


def _bin_index(logits: Tensor) -> Tensor:
    x = logits.float().clamp(-LOGIT_RANGE, LOGIT_RANGE)
    idx = ((x + LOGIT_RANGE) * (N_BINS / (2 * LOGIT_RANGE))).long()
    return idx.clamp(0, N_BINS - 1)


def prob_to_logit(p: float) -> float:
    """Logit of a probability, clipped to the histogram range."""
    p = float(np.clip(p, 1e-7, 1 - 1e-7))
    return float(np.clip(np.log(p / (1 - p)), -LOGIT_RANGE, LOGIT_RANGE))


class _Group:
    __slots__ = ("fn", "fp", "hist", "n_samples", "tn", "tp")

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = self.tn = 0
        self.n_samples = 0
        self.hist = np.zeros((2, N_BINS), dtype=np.int64)  # [neg, pos]

    def add(self, other: _Group) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.tn += other.tn
        self.n_samples += other.n_samples
        self.hist += other.hist


def scores(tp: float, fp: float, fn: float) -> dict[str, float]:
    """Precision, recall, F1 and IoU from confusion counts (0 where undefined, 1 when nothing to find
    and nothing predicted)."""
    if tp + fp + fn == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0, "iou": 1.0}
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn)
    iou = tp / (tp + fp + fn)
    return {"precision": precision, "recall": recall, "f1": f1, "iou": iou}


def ap_from_histogram(hist: np.ndarray) -> float:
    """Average precision from a ``[2, N_BINS]`` (negative, positive) count histogram.

    Uses :func:`sklearn.metrics.average_precision_score` with one weighted point per non-empty bin.
    NaN when there are no positives.
    """
    from sklearn.metrics import average_precision_score

    neg, pos = hist
    if pos.sum() == 0:
        return float("nan")
    centres = 0.5 * (_edges()[:-1] + _edges()[1:])
    keep_n, keep_p = neg > 0, pos > 0
    y_true = np.concatenate([np.zeros(keep_n.sum()), np.ones(keep_p.sum())])
    y_score = np.concatenate([centres[keep_n], centres[keep_p]])
    weight = np.concatenate([neg[keep_n], pos[keep_p]]).astype(np.float64)
    return float(average_precision_score(y_true, y_score, sample_weight=weight))


def best_f1_from_histogram(hist: np.ndarray) -> tuple[float, float]:
    """(best F1, its probability threshold) over the histogram's bin edges.

    Predicting positive for bins ``>= k`` gives one operating point per edge ``k``.
    """
    neg, pos = hist.astype(np.float64)
    tp = np.cumsum(pos[::-1])[::-1]  # scores in bins >= k
    fp = np.cumsum(neg[::-1])[::-1]
    fn = pos.sum() - tp
    denom = 2 * tp + fp + fn
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0)
    best = float(f1.max())
    # ties (flat stretches of the curve, e.g. a near-binary model): the edge closest to p = 0.5
    ties = np.flatnonzero(f1 >= best - 1e-12)
    k = int(ties[np.argmin(np.abs(_edges()[ties]))])
    logit = _edges()[k]
    return best, float(1.0 / (1.0 + np.exp(-logit)))


class MetricAccumulator:
    """Accumulate predictions batch by batch; report metrics per family and group.

    Parameters
    ----------
    threshold
        Probability threshold for the binary metrics.
    per_event
        Also keep one group per event id.
    """

    def __init__(self, threshold: float = 0.5, per_event: bool = True):
        self.threshold = float(threshold)
        self.per_event = per_event
        self.groups: dict[tuple[str, str, str], _Group] = {}
        self._logit_thr = prob_to_logit(self.threshold)

    def _group(self, family: str, scope: str, name: str) -> _Group:
        key = (family, scope, name)
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = _Group()
        return g

    @torch.no_grad()
    def update(
        self,
        logits: Tensor,
        target: Tensor,
        valid: Tensor,
        last: Tensor,
        hist_len: Sequence[int] | Tensor,
        event_ids: Sequence[str] | None = None,
    ) -> None:
        """Add a batch.

        Parameters
        ----------
        logits, target, last
            [B, 1, H, W] (or [B, H, W]): model logits, fire at t+1, last history frame.
        valid
            [B, 1, H, W] bool pixel validity.
        hist_len
            [B] history lengths.
        event_ids
            [B] event ids (for per-event groups).
        """
        logits = logits.detach().float().reshape(logits.shape[0], -1).cpu()
        target = (target.detach().reshape(logits.shape) > 0.5).cpu()
        valid = valid.detach().reshape(logits.shape).bool().cpu()
        last = (last.detach().reshape(logits.shape) > 0.5).cpu()
        hl = [int(h) for h in (hist_len.tolist() if isinstance(hist_len, Tensor) else hist_len)]
        bins = _bin_index(logits)
        pred = logits >= self._logit_thr
        for b in range(logits.shape[0]):
            names = [("all", "all"), ("history", history_bucket(hl[b]))]
            if self.per_event and event_ids is not None:
                names.append(("event", str(event_ids[b])))
            for family in FAMILIES:
                m = valid[b] if family == "next" else valid[b] & ~last[b]
                t = target[b][m]
                p = pred[b][m]
                bi = bins[b][m]
                one = _Group()
                one.n_samples = 1
                one.tp = int((p & t).sum())
                one.fp = int((p & ~t).sum())
                one.fn = int((~p & t).sum())
                one.tn = int((~p & ~t).sum())
                one.hist[0] = torch.bincount(bi[~t], minlength=N_BINS).numpy()
                one.hist[1] = torch.bincount(bi[t], minlength=N_BINS).numpy()
                for scope, name in names:
                    self._group(family, scope, name).add(one)

    def merge(self, other: MetricAccumulator) -> None:
        """Add another accumulator's counts (same threshold), e.g. from another process."""
        for key, g in other.groups.items():
            self._group(*key).add(g)

    def state(self) -> dict[str, Any]:
        """Counts as plain arrays (for all-reduce or saving)."""
        keys = sorted(self.groups)
        counts = np.array(
            [
                [
                    self.groups[k].tp,
                    self.groups[k].fp,
                    self.groups[k].fn,
                    self.groups[k].tn,
                    self.groups[k].n_samples,
                ]
                for k in keys
            ],
            dtype=np.int64,
        ).reshape(len(keys), 5)
        hist = np.stack([self.groups[k].hist for k in keys]) if keys else np.zeros((0, 2, N_BINS), np.int64)
        return {"keys": keys, "counts": counts, "hist": hist, "threshold": self.threshold}

    def result(self, family: str = "next", scope: str = "all", name: str = "all") -> dict[str, float]:
        """Metrics of one group: precision, recall, f1, iou, ap, best_f1, best_threshold, counts."""
        g = self.groups.get((family, scope, name)) or _Group()
        out: dict[str, float] = dict(scores(g.tp, g.fp, g.fn))
        out["ap"] = ap_from_histogram(g.hist)
        out["best_f1"], out["best_threshold"] = best_f1_from_histogram(g.hist)
        out["n_samples"] = g.n_samples
        out["n_pixels"] = int(g.tp + g.fp + g.fn + g.tn)
        out["n_positive"] = int(g.tp + g.fn)
        return out

    def summary(self, prefix: str = "val/") -> dict[str, float]:
        """Flat metrics of the ``all`` group (keys: :func:`summary_keys`): ``{prefix}f1``,
        ``{prefix}ap`` ... for the next mask and ``{prefix}new_f1``, ``{prefix}new_ap`` ... for the
        newly burned pixels."""
        results = {family: self.result(family) for family in FAMILIES}
        return {key: float(results[family][k]) for key, (family, k) in _summary_items(prefix).items()}

    def table(self, model: str | None = None) -> Any:
        """A tidy :class:`pandas.DataFrame`: one row per (family, scope, group)."""
        import pandas as pd

        order = {"all": 0, "history": 1, "event": 2}
        bucket_order = {name: i for i, (_, _, name) in enumerate(HIST_BUCKETS)}
        rows = []
        for family, scope, name in sorted(
            self.groups, key=lambda k: (FAMILIES.index(k[0]), order[k[1]], bucket_order.get(k[2], 99), k[2])
        ):
            r = self.result(family, scope, name)
            row = {"target": family, "scope": scope, "group": name, "threshold": self.threshold}
            if model is not None:
                row = {"model": model, **row}
            row.update({k: r[k] for k in ("precision", "recall", "f1", "iou", "ap")})
            row.update({k: r[k] for k in ("n_samples", "n_pixels", "n_positive")})
            rows.append(row)
        return pd.DataFrame(rows)


def write_table(df: Any, path: str, floatfmt: str = ".3f") -> None:
    """Write a metrics table as CSV (``.csv``) or markdown (anything else), atomically."""
    from pathlib import Path

    from emberxr.atomic import atomic_path

    p = Path(path)
    with atomic_path(p) as tmp:
        if p.suffix.lower() == ".csv":
            df.to_csv(tmp, index=False)
        else:
            Path(tmp).write_text(df.to_markdown(index=False, floatfmt=floatfmt) + "\n")
