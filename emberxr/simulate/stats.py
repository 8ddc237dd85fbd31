"""Statistics of a fire-event collection (burned fraction, growth, edge touches, history lengths).

A *sample* is every ``(event, t)`` with ``t`` in ``0 .. T-2``: history = frames ``0..t`` (capped
at ``max_history``), target = the frame at ``t+1``. These statistics back ``docs/dataset.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import xarray as xr

DEFAULT_MAX_HISTORY = 8


def history_histogram(n_frames: Sequence[int], max_history: int = DEFAULT_MAX_HISTORY) -> dict[int, int]:
    """Count samples by history length ``min(t + 1, max_history)`` for ``t`` in ``0 .. T-2``.

    >>> history_histogram([4])
    {1: 1, 2: 1, 3: 1}
    """
    counts: Counter[int] = Counter()
    for n in n_frames:
        for t in range(int(n) - 1):
            counts[min(t + 1, max_history)] += 1
    return dict(sorted(counts.items()))


def touches_edge(mask: np.ndarray) -> bool:
    """True when a (H, W) fire mask has a burned cell on the domain border."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def dataset_stats(events: Iterable[xr.Dataset], max_history: int = DEFAULT_MAX_HISTORY) -> dict[str, Any]:
    """Summary statistics of a collection of FireEvents.

    Returns
    -------
    dict
        ``n_events``, ``n_samples``; ``burned_fraction_per_step`` and ``new_burn_per_step``
        (mean over events, indexed by frame / transition); ``edge_touch_share`` (share of samples
        whose target frame touches the domain edge) and ``edge_touch_event_share`` (share of
        events whose last frame does); ``history_histogram`` and
        ``share_history_le_6``; ``final_burned_cells`` quantiles (10/50/90 %);
        ``moisture_scenarios`` and ``wind_shift_share`` when the events carry simulator attrs.
    """
    frac: list[np.ndarray] = []
    new: list[np.ndarray] = []
    frames: list[int] = []
    edge = samples = edge_events = 0
    finals = []
    scenarios: Counter[str] = Counter()
    shifted = 0
    for ev in events:
        fire = np.asarray(ev["fire"].values, dtype=bool)
        valid = np.asarray(ev["valid"].values, dtype=bool) if "valid" in ev else np.ones(fire.shape[1:], bool)
        counts = fire.reshape(fire.shape[0], -1).sum(axis=1)
        frac.append(counts / max(int(valid.sum()), 1))
        new.append(np.diff(counts))
        frames.append(fire.shape[0])
        finals.append(int(counts[-1]))
        for t in range(fire.shape[0] - 1):
            samples += 1
            edge += touches_edge(fire[t + 1])
        edge_events += touches_edge(fire[-1])
        if "moisture_scenario" in ev.attrs:
            scenarios[str(ev.attrs["moisture_scenario"])] += 1
        shifted += int(ev.attrs.get("wind_shifts", 0)) > 0

    def ragged_mean(rows: list[np.ndarray]) -> list[float]:
        width = max((len(r) for r in rows), default=0)
        out = []
        for i in range(width):
            vals = [float(r[i]) for r in rows if len(r) > i]
            out.append(float(np.mean(vals)))
        return out

    hist = history_histogram(frames, max_history)
    total = sum(hist.values())
    n = len(frames)
    return {
        "n_events": n,
        "n_samples": samples,
        "burned_fraction_per_step": ragged_mean(frac),
        "new_burn_per_step": ragged_mean(new),
        "edge_touch_share": edge / samples if samples else 0.0,
        "edge_touch_event_share": edge_events / n if n else 0.0,
        "history_histogram": hist,
        "share_history_le_6": sum(v for k, v in hist.items() if k <= 6) / total if total else 0.0,
        "final_burned_cells": {q: float(np.percentile(finals, q)) if finals else 0.0 for q in (10, 50, 90)},
        "moisture_scenarios": dict(sorted(scenarios.items())),
        "wind_shift_share": shifted / n if n else 0.0,
    }
