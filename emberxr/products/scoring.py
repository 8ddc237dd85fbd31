"""Perimeter scores: how well a forecast burned area matches the observed one, per forecast step.

The measures evaluations of operational fire simulators use, per forecast (one event, one issue
time, one step), on the valid cells:

``dice``
    Sørensen (Dice) coefficient of the burned areas, ``2 |F ∩ O| / (|F| + |O|)`` (1 = identical);
``jaccard``
    Jaccard index, ``|F ∩ O| / |F ∪ O|``;
``dice_new``
    Sørensen of the area burned *after* the issue time (forecast minus the fire at the issue
    time vs observed minus it): the part a copy of the current perimeter cannot get right;
``mean_distance_m``
    symmetric mean distance between the two perimeters in metres: the mean, over the boundary
    cells of the forecast, of the distance to the nearest boundary cell of the observation, and
    the same the other way round, averaged. Boundary cells are burned cells with an unburned
    4-neighbour inside the grid (the grid's edge is not a perimeter); distances come from Euclidean
    distance transforms with the cell size of the grid's transform (:func:`cell_size_m`). 0 when
    both are empty, NaN when only one is, or when the event has no CRS (no metres).

Both empty: ``dice`` = ``jaccard`` = 1. :func:`perimeter_table` scores multi-step forecasts from
every issue time of every event (``emberxr evaluate --perimeters --horizon K``) and reports the
mean of each score per step (forecasts where it is defined).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["boundary", "mean_boundary_distance", "perimeter_scores", "perimeter_table"]

SCORES = ("dice", "jaccard", "dice_new", "mean_distance_m")


def boundary(mask: np.ndarray) -> np.ndarray:
    """Burned cells with an unburned 4-neighbour inside the grid."""
    from scipy.ndimage import binary_erosion

    mask = np.asarray(mask, bool)
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
    return mask & ~binary_erosion(mask, structure=cross, border_value=1)


def mean_boundary_distance(a: np.ndarray, b: np.ndarray, cell: tuple[float, float] = (1.0, 1.0)) -> float:
    """Symmetric mean distance between the perimeters of masks ``a`` and ``b`` in the units of
    ``cell`` = (height, width) of a cell (see the module docstring)."""
    from scipy.ndimage import distance_transform_edt

    ba, bb = boundary(a), boundary(b)
    if not ba.any() and not bb.any():
        return 0.0
    if not ba.any() or not bb.any():
        return float("nan")
    to_b = distance_transform_edt(~bb, sampling=cell)
    to_a = distance_transform_edt(~ba, sampling=cell)
    return float((to_b[ba].mean() + to_a[bb].mean()) / 2)


def _dice(f: np.ndarray, o: np.ndarray) -> float:
    n = int(f.sum()) + int(o.sum())
    return 1.0 if n == 0 else 2.0 * int((f & o).sum()) / n


def perimeter_scores(
    forecast: np.ndarray,
    observed: np.ndarray,
    initial: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    cell_size: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Scores of one forecast burned area against the observed one (see the module docstring).

    Parameters
    ----------
    forecast, observed
        Burned masks (y, x) at the same valid time.
    initial
        The burned mask at the issue time (for ``dice_new``; NaN without it).
    valid
        Validity footprint (cells outside are ignored).
    cell_size
        (height, width) of a cell in metres (None: ``mean_distance_m`` is NaN).
    """
    f, o = np.asarray(forecast, bool), np.asarray(observed, bool)
    if valid is not None:
        f, o = f & valid, o & valid
    union = int((f | o).sum())
    out = {
        "dice": _dice(f, o),
        "jaccard": 1.0 if union == 0 else int((f & o).sum()) / union,
        "dice_new": float("nan"),
        "mean_distance_m": float("nan"),
    }
    if initial is not None:
        i = np.asarray(initial, bool)
        out["dice_new"] = _dice(f & ~i, o & ~i)
    if cell_size is not None:
        out["mean_distance_m"] = mean_boundary_distance(f, o, cell_size)
    return out


def perimeter_table(
    model: Any,
    events: Sequence[xr.Dataset],
    stats: Any,
    config: Mapping[str, Any],
    threshold: float,
    model_name: str,
    *,
    horizon: int = 1,
    calibrator: Mapping[str, Any] | None = None,
    progress: bool = False,
    table: Any = None,
    device: Any = None,
    amp: bool = False,
) -> Any:
    """Perimeter scores of ``horizon``-step forecasts from every issue time of every event.

    Each event is forecast from every frame ``t`` with a later observed frame, ``min(horizon,
    n_frames - 1 - t)`` steps ahead (:func:`emberxr.forecast.forecast` with the model's sample
    settings, ``calibrator``, ``device`` and ``amp``), and each step's ``fire_mask`` is scored against the
    observed fire.

    Returns
    -------
    pandas.DataFrame
        One row per step: ``model``, ``target`` = ``perimeter``, ``scope`` = ``step``, ``group`` =
        ``step K``, ``threshold``, ``n_samples`` (forecasts scored) and the mean of each score of
        :func:`perimeter_scores`; appended to ``table`` when given.
    """
    import pandas as pd

    from emberxr.data.loaders import sample_kwargs
    from emberxr.forecast import forecast
    from emberxr.products.perimeters import cell_size_m
    from emberxr.progress import progress as progress_bar
    from emberxr.schema import FIRE, VALID

    kw = {
        **sample_kwargs(config, model),
        "calibrator": calibrator,
        "device": device,
        "amp": amp,
        "progress": False,
    }
    per_step: dict[int, list[dict[str, float]]] = {}
    jobs = [(ev, t) for ev in events for t in range(int(ev.sizes["time"]) - 1)]
    for ev, t in progress_bar(jobs, "perimeters", unit="forecast", enabled=progress):
        n_t = int(ev.sizes["time"])
        steps = min(int(horizon), n_t - 1 - t)
        ds = forecast(model, stats, ev, t, steps, threshold, **kw)
        valid = np.asarray(ev[VALID].values, bool)
        fire = np.asarray(ev[FIRE].values) > 0
        cell = cell_size_m(ev)
        for k in range(1, steps + 1):
            scores = perimeter_scores(ds["fire_mask"].values[k - 1] > 0, fire[t + k], fire[t], valid, cell)
            per_step.setdefault(k, []).append(scores)
    rows = []
    for k in sorted(per_step):
        vals = {s: np.array([r[s] for r in per_step[k]], np.float64) for s in SCORES}
        row = {
            "model": model_name,
            "target": "perimeter",
            "scope": "step",
            "group": f"step {k}",
            "threshold": float(threshold),
            "n_samples": len(per_step[k]),
        }
        row.update(
            {s: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for s, v in vals.items()}
        )
        rows.append(row)
    out = pd.DataFrame(rows)
    return out if table is None else pd.concat([table, out], ignore_index=True)
