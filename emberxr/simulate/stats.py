"""Statistics of a fire-event collection: burned fraction, growth, edge touches, history lengths,
and the regime of each simulated event.

A *sample* is every ``(event, t)`` with ``t`` in ``0 .. T-2``: history = frames ``0..t`` (capped
at ``max_history``; ``None`` = uncapped), target = the frame at ``t+1``. These statistics back
``docs/dataset.md``.

The *regime* of a simulated event (:data:`REGIME_KEYS`, :func:`regime_values`) is a handful of
scalars: the weather it burned under, its landscape and ignition, and how much it burned. Events of
the wide generator carry them as attributes; :func:`regime_table` also derives them for
``sim-small`` events from their ``sim_params``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_MAX_HISTORY = 8


def history_histogram(
    n_frames: Sequence[int], max_history: int | None = DEFAULT_MAX_HISTORY
) -> dict[int, int]:
    """Count samples by history length ``min(t + 1, max_history)`` for ``t`` in ``0 .. T-2``
    (``max_history=None``: ``t + 1``).

    >>> history_histogram([4])
    {1: 1, 2: 1, 3: 1}
    >>> history_histogram([12], max_history=None)[11]
    1
    """
    cap = max_history if max_history is not None else 10**9
    counts: Counter[int] = Counter()
    for n in n_frames:
        for t in range(int(n) - 1):
            counts[min(t + 1, cap)] += 1
    return dict(sorted(counts.items()))


def share_history_at_most(n_frames: Sequence[int], limit: int = 6) -> float:
    """Share of samples ``(event, t)`` whose (uncapped) history has at most ``limit`` frames.

    >>> share_history_at_most([3, 13])  # 2 + 6 of 2 + 12 samples
    0.5714285714285714
    """
    total = sum(max(int(n) - 1, 0) for n in n_frames)
    short = sum(min(max(int(n) - 1, 0), limit) for n in n_frames)
    return short / total if total else 0.0


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


# -- regimes ------------------------------------------------------------------------------------
#: the regime attributes every wide-generator event carries (one scalar each)
REGIME_KEYS = (
    "regime_wind_kmh",
    "regime_gust_kmh",
    "regime_dead_fm_pct",
    "regime_live_fm_pct",
    "regime_style",
    "regime_terrain",
    "regime_ignition",
    "regime_burned_fraction",
    "regime_spread_ha_per_h",
    "regime_frames",
)
REGIME_DESCRIPTIONS = {
    "regime_wind_kmh": "mean 10-m wind speed (km/h) over the hours that drive the observed transitions",
    "regime_gust_kmh": "strongest quarter-hour wind (km/h) over those hours (sim-small: strongest hourly wind)",
    "regime_dead_fm_pct": "mean 1-h dead fuel moisture (%) over those hours",
    "regime_live_fm_pct": "mean of live herbaceous and live woody fuel moisture (%)",
    "regime_style": "landscape style: rangeland | shrubland | timber | mixed | wui",
    "regime_terrain": "fractal (procedural) or real (a DEM window)",
    "regime_ignition": "point (1-3 points) or line",
    "regime_burned_fraction": "share of the domain burned in the last frame",
    "regime_spread_ha_per_h": "burned area added per hour between the first and the last frame (ha/h)",
    "regime_frames": "number of hourly frames",
}


def regime_values(params: dict[str, Any], fire: np.ndarray, cell_size: float) -> dict[str, Any]:
    """The regime of one simulated event from its parameters and its (T, H, W) fire frames.

    Works for both parameter versions (version 1, sim-small: hourly wind without gusts, one
    moisture value, mixed landscapes, point ignitions).
    """
    fire = np.asarray(fire)
    counts = fire.reshape(fire.shape[0], -1).sum(axis=1)
    return _regime(params, int(fire.shape[0]), int(counts[0]), int(counts[-1]), fire[0].size, cell_size)


def _regime(
    params: dict[str, Any], steps: int, first: int, last: int, cells: int, cell_size: float
) -> dict[str, Any]:
    """:func:`regime_values` from the burned-cell counts of the first and the last frame."""
    driving = max(steps - 1, 1)  # hours whose weather drives an observed transition
    moisture = params["moisture"]
    if int(params.get("params_version", 1)) == 2:
        from emberxr.simulate.weather import BANDS_PER_HOUR

        start = int(params["window"]["start_hour"])
        quarter = np.asarray(params["wind"]["speed_kmh"], np.float64).reshape(-1, BANDS_PER_HOUR)
        quarter = quarter[start : start + driving]
        wind, gust = float(quarter.mean()), float(quarter.max())
        dead = 100.0 * float(np.mean(np.asarray(moisture["dead_1hr"], np.float64)[start : start + driving]))
        land = params["landscape"]
        style, terrain = str(land["style"]), str(land["terrain"]["kind"])
        ignition = str(params["ignition"]["kind"])
    else:
        hourly = np.asarray(params["wind"]["speed_kmh"], np.float64)[:driving]
        wind, gust = float(hourly.mean()), float(hourly.max())
        dead = 100.0 * float(moisture["dead_1hr"])
        style = "mixed"
        terrain = "real" if params["landscape"].get("dem") == "jacksboro" else "fractal"
        ignition = "point"
    live = 50.0 * (float(moisture["live_herbaceous"]) + float(moisture["live_woody"]))
    return {
        "regime_wind_kmh": round(wind, 3),
        "regime_gust_kmh": round(gust, 3),
        "regime_dead_fm_pct": round(dead, 3),
        "regime_live_fm_pct": round(live, 3),
        "regime_style": style,
        "regime_terrain": terrain,
        "regime_ignition": ignition,
        "regime_burned_fraction": round(last / cells, 5),
        "regime_spread_ha_per_h": round((last - first) * cell_size**2 / 1e4 / driving, 4),
        "regime_frames": steps,
    }


def _event_regime(ev: xr.Dataset) -> dict[str, Any]:
    if all(k in ev.attrs for k in REGIME_KEYS):
        return {k: ev.attrs[k] for k in REGIME_KEYS}
    raw = ev.attrs.get("sim_params")
    if not raw:
        return {k: None for k in REGIME_KEYS}
    import json

    params = json.loads(raw) if isinstance(raw, str) else dict(raw)
    cell = float(params["landscape"].get("cell_size", 30.0))
    steps = int(ev.sizes["time"])
    ends = np.asarray(ev["fire"].isel(time=[0, steps - 1]).values)  # two frames, not all
    first, last = (int(n) for n in ends.reshape(2, -1).sum(axis=1))
    return _regime(params, steps, first, last, ends[0].size, cell)


def _stored_regimes(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Regimes of every event of a zarr collection, read from the group metadata (and, for
    sim-small events, two fire frames) without opening the events as Datasets."""
    import json

    import zarr

    from emberxr.io.events import list_event_ids
    from emberxr.io.integrity import read_json

    for eid in list_event_ids(path):
        group = path / eid if (path / eid).is_dir() else path
        attrs = (read_json(group / "zarr.json") or {}).get("attributes", {})
        if all(k in attrs for k in REGIME_KEYS):
            yield eid, {k: attrs[k] for k in REGIME_KEYS}
        elif attrs.get("sim_params"):
            params = json.loads(attrs["sim_params"])
            fire = zarr.open_array(group / "fire", mode="r")
            steps = int(fire.shape[0])
            first, last = int(np.asarray(fire[0]).sum()), int(np.asarray(fire[steps - 1]).sum())
            cells = int(fire.shape[1]) * int(fire.shape[2])
            cell_size = float(params["landscape"].get("cell_size", 30.0))
            yield eid, _regime(params, steps, first, last, cells, cell_size)
        else:
            yield eid, {k: None for k in REGIME_KEYS}


def regime_table(events: Any) -> pd.DataFrame:
    """The regime of every event: one row per event, indexed by ``event_id``, columns
    :data:`REGIME_KEYS`.

    Parameters
    ----------
    events
        A DataTree (e.g. ``open_catalog(...)[split]`` or :func:`emberxr.open_events`), a mapping
        id -> Dataset, an iterable of Datasets, or the path of a zarr event collection (the
        fastest: only metadata is read, e.g. ``regime_table(open_catalog("sim-wide").data_path)``).
        Wide-generator events are read from their attributes (no pixels are loaded); sim-small
        events are derived from their ``sim_params`` and their first and last fire frames; other
        events get empty (None/NaN) regimes.

    Returns
    -------
    pandas.DataFrame
        Numeric columns as floats (``regime_frames`` as integers where known), the others as
        strings.
    """
    import pandas as pd

    from emberxr.io.events import iter_events

    rows, ids = [], []
    if isinstance(events, (str, os.PathLike)):
        for eid, row in _stored_regimes(Path(events)):
            ids.append(eid)
            rows.append(row)
    else:
        for ev in iter_events(events):
            ids.append(str(ev.attrs.get("event_id", len(ids))))
            rows.append(_event_regime(ev))
    df = pd.DataFrame(rows, index=pd.Index(ids, name="event_id"), columns=list(REGIME_KEYS))
    for k in REGIME_KEYS:
        if k in ("regime_style", "regime_terrain", "regime_ignition"):
            df[k] = df[k].astype(object)
        elif k == "regime_frames":
            df[k] = df[k].astype("Int64")
        else:
            df[k] = df[k].astype(float)
    return df
