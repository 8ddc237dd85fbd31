"""PNG panels of forecasts: history, target, each model's prediction and an error map.

Matplotlib is imported inside the functions with the ``Agg`` backend, so plotting works on
headless machines and never slows ``import emberxr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from emberxr.atomic import atomic_path
from emberxr.schema import FIRE, VALID


def error_map(pred: np.ndarray, target: np.ndarray, last: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Categorical error raster: 0 unburned/correct, 1 already burning, 2 hit (new burn predicted),
    3 miss (new burn not predicted), 4 false alarm, 5 outside the footprint."""
    out = np.zeros(pred.shape, np.uint8)
    p, t, b = pred > 0, target > 0, last > 0
    out[b & t] = 1
    out[p & t & ~b] = 2
    out[~p & t & ~b] = 3
    out[p & ~t] = 4
    out[~valid] = 5
    return out


def _zoom_box(mask: np.ndarray, margin: int) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the True cells plus ``margin``, clipped to the raster; None when empty."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    h, w = mask.shape
    return (
        max(0, ys.min() - margin),
        min(h, ys.max() + margin + 1),
        max(0, xs.min() - margin),
        min(w, xs.max() + margin + 1),
    )


def history_image(fire: np.ndarray) -> np.ndarray:
    """Frame index at which each cell first burned (NaN = never) from a ``[T, H, W]`` history."""
    burned = fire > 0
    first = np.argmax(burned, axis=0).astype(np.float32)
    return np.where(burned.any(axis=0), first, np.nan)


def plot_panel(
    event: xr.Dataset,
    t: int,
    predictions: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float],
    path: str | os.PathLike,
    error_model: str | None = None,
    max_history: int = 8,
    title: str | None = None,
    zoom: bool = True,
) -> Path:
    """Write one PNG: history, target, each model's probability (with its threshold contour) and
    the error map of ``error_model`` (default: the last model).

    Parameters
    ----------
    event
        The FireEvent; frames ``t - max_history + 1 .. t`` are the history, ``t + 1`` the target.
    t
        Last history frame (``t + 1`` must exist).
    predictions
        Model name → probability ``[H, W]`` of frame ``t + 1``.
    thresholds
        Model name → probability threshold of its binary forecast.
    path
        PNG file to write (atomically).
    zoom
        Show only the fire's bounding box (plus a margin) instead of the whole scene.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    fire = np.asarray(event[FIRE].values) > 0
    valid = np.asarray(event[VALID].values, bool)
    h0 = max(0, t - max_history + 1)
    hist = history_image(fire[h0 : t + 1])
    target, last = fire[t + 1], fire[t]
    names = list(predictions)
    err_name = error_model or (names[-1] if names else None)
    n = 2 + len(names) + (1 if err_name else 0)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.9), constrained_layout=True)
    axes = np.atleast_1d(axes)
    ax = axes[0]
    im = ax.imshow(hist, cmap="inferno_r", interpolation="nearest")
    ax.set_title(f"history (frames {h0}–{t})", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    ax = axes[1]
    ax.imshow(
        np.where(valid, target.astype(float) + last, np.nan),
        cmap=ListedColormap(["#f0f0f0", "#fdae61", "#d7191c"]),
        vmin=0,
        vmax=2,
        interpolation="nearest",
    )
    ax.set_title("target t+1 (red = burning at t)", fontsize=8)
    for i, name in enumerate(names):
        ax = axes[2 + i]
        prob = np.asarray(predictions[name], dtype=np.float32)
        im = ax.imshow(np.where(valid, prob, np.nan), cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        thr = float(thresholds.get(name, 0.5))
        if np.nanmax(prob) >= thr > np.nanmin(prob):
            ax.contour(prob >= thr, levels=[0.5], colors="cyan", linewidths=0.6)
        ax.set_title(f"{name} (thr {thr:.2f})", fontsize=8)
    if names:
        fig.colorbar(im, ax=axes[2 + len(names) - 1], fraction=0.046, pad=0.02)
    if err_name:
        ax = axes[-1]
        pred = np.asarray(predictions[err_name]) >= float(thresholds.get(err_name, 0.5))
        err = error_map(pred, target, last, valid)
        cmap = ListedColormap(["#ffffff", "#bdbdbd", "#1a9641", "#2c7bb6", "#d7191c", "#404040"])
        ax.imshow(err, cmap=cmap, vmin=0, vmax=5, interpolation="nearest")
        ax.set_title(f"errors: {err_name}\ngreen hit, blue miss, red false", fontsize=7)
    box = _zoom_box(target | last, margin=12)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        if zoom and box is not None:
            ax.set_xlim(box[2] - 0.5, box[3] - 0.5)
            ax.set_ylim(box[1] - 0.5, box[0] - 0.5)
    fig.suptitle(title or f"{event.attrs.get('event_id', 'event')}  t={t}", fontsize=9)
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out


def plot_horizon(ds: xr.Dataset, path: str | os.PathLike, title: str | None = None) -> Path:
    """PNG of a multi-step forecast Dataset: one probability map per step plus the arrival time."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    k = int(ds.sizes["step"])
    fig, axes = plt.subplots(1, k + 1, figsize=(2.6 * (k + 1), 2.9), constrained_layout=True)
    for i in range(k):
        axes[i].imshow(
            ds["probability"].isel(step=i).values, cmap="magma", vmin=0, vmax=1, interpolation="nearest"
        )
        axes[i].set_title(f"P(burned) t+{float(ds['lead_time_hours'][i]):g}h", fontsize=8)
    im = axes[-1].imshow(ds["arrival_time"].values, cmap="viridis_r", interpolation="nearest")
    axes[-1].set_title("arrival time (h from issue)", fontsize=8)
    fig.colorbar(im, ax=axes[-1], fraction=0.046, pad=0.02)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        title or f"{ds.attrs.get('event_id', '')} forecast from {ds.attrs.get('issue_time', '')}", fontsize=9
    )
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out


def as_numpy(da: Any) -> np.ndarray:
    """Values of a DataArray (or array) as float32 numpy."""
    return np.asarray(getattr(da, "values", da), dtype=np.float32)
