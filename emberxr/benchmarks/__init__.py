"""Protocols of public benchmarks: the published splits, feature sets and scores, run on emberxr.

- :mod:`emberxr.benchmarks.wildfirespreadts`: WildfireSpreadTS (Gerard et al. 2023; the tuned
  numbers of Lahrichi et al. 2026) — 12 year folds, per-fold normalisation, next-day active fire,
  test AP pooled over pixels, the same test samples for 1–5 input days, feature sets Veg / Multi /
  All;
- :mod:`emberxr.benchmarks.ndws`: Next Day Wildfire Spread (Huot et al. 2022) — the published
  train / eval / test files, fire-class AUC-PR, precision, recall and F1 with unknown labels masked,
  the threshold chosen on the eval files.

``emberxr benchmark wildfirespreadts|ndws`` runs them from the shell (:mod:`emberxr.cli.benchmark_public`);
``docs/benchmarks-public.md`` says how to get the data and how emberxr's numbers compare.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["active_fire_fit_kwargs", "next_mask_row"]


def active_fire_fit_kwargs(
    days: int,
    epochs: int,
    steps: int | None,
    progress: bool,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The :func:`emberxr.fit` keywords every public protocol shares: exactly ``days`` input days,
    the next day's *active* fire as target, validation AP as the monitor, no W&B, ``steps`` (when
    given) spread over ``epochs``; ``overrides`` win."""
    kw: dict[str, Any] = {
        "max_history": int(days),
        "min_history": int(days),
        "epochs": int(epochs),
        "target": "active",  # the next day's detected fire, not the cumulative burned area
        "monitor": "val/ap",
        "wandb__enabled": False,
        "progress": progress,
        **dict(overrides or {}),
    }
    if steps is not None:
        kw["steps_per_epoch"] = max(1, math.ceil(int(steps) / int(epochs)))
    return kw


def next_mask_row(frame: Any) -> Any:
    """The pooled next-mask row (``target == "next"``, ``scope == "all"``) of an evaluation table."""
    return frame[(frame["target"] == "next") & (frame["scope"] == "all")].iloc[0]
