"""Turn a simulator result into a FireEvent, and decide whether it burned meaningfully."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from emberxr.schema import make_event, wind_uv_from_speed_dir
from emberxr.simulate.landscape import STATIC_BANDS, Landscape

SOURCE = "pyretechnics"
#: selection rule for datasets: at least this many burned cells in the last frame ...
MIN_FINAL_CELLS = 40
#: ... and new burned cells in at least this share of the hourly transitions
MIN_GROWING_SHARE = 0.5


def quantize(a: np.ndarray) -> np.ndarray:
    """Round float32 values to float16 precision (what the compact on-disk encoding keeps), so an
    event compares equal to itself after a write/read round trip."""
    return np.asarray(a, dtype=np.float32).astype(np.float16).astype(np.float32)


def fire_frames(arrival_hours: np.ndarray, steps: int) -> np.ndarray:
    """(steps, H, W) uint8 masks: 1 where the cell has burned by hour ``t`` (arrival <= t)."""
    toa = np.where(np.isfinite(arrival_hours), arrival_hours, np.inf)
    hours = np.arange(steps, dtype=np.float32)[:, None, None]
    return (toa[None] <= hours).astype(np.uint8)


def build_event(params: dict[str, Any], landscape: Landscape, result: dict[str, Any]) -> xr.Dataset:
    """Assemble the FireEvent of one simulation.

    The fire frames come from the full-precision arrival time; the arrival-time raster and the
    static bands are stored at float16 precision (see :func:`quantize`). Parameters of the wide
    generator (``params_version`` 2) go to :func:`build_wide_event`.
    """
    if int(params.get("params_version", 1)) == 2:
        return build_wide_event(params, landscape, result)
    steps = int(params["steps"])
    arrival = np.asarray(result["time_of_arrival"], dtype=np.float32)
    arrival = np.where(arrival <= steps - 1 + 1e-6, arrival, np.nan).astype(np.float32)
    fire = fire_frames(arrival, steps)
    speed_ms = np.asarray(params["wind"]["speed_kmh"], np.float64) / 3.6
    u, v = wind_uv_from_speed_dir(speed_ms, params["wind"]["direction_from_deg"])
    attrs = {
        **_simulator_attrs(params, result),
        "dem": params["landscape"]["dem"],
        "moisture_scenario": params["moisture"]["scenario"],
        "n_ignitions": len(params["ignitions"]),
        "wind_shifts": len(params["wind"]["shifts"]),
        "sim_params": json.dumps(params, sort_keys=True),
    }
    return _assemble(params, landscape, fire, arrival, u, v, attrs)


def _assemble(
    params: dict[str, Any],
    landscape: Landscape,
    fire: np.ndarray,
    arrival: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    attrs: dict[str, Any],
) -> xr.Dataset:
    """The FireEvent on the landscape's grid: hourly frames from ``start_time``, the static bands
    and ``arrival`` at float16 precision, band kinds and units of :data:`STATIC_BANDS`."""
    n_rows, n_cols = landscape.shape
    cell = landscape.cell_size
    x = params["x0"] + cell / 2 + cell * np.arange(n_cols)
    y = params["y0"] - cell / 2 - cell * np.arange(n_rows)
    times = np.datetime64(params["start_time"], "ns") + np.arange(fire.shape[0]) * np.timedelta64(1, "h")
    ev = make_event(
        fire,
        {k: quantize(a) for k, a in landscape.static_bands().items()},
        u,
        v,
        times=times,
        x=x,
        y=y,
        crs=params["crs"],
        band_kinds={k: kind for k, (kind, _unit) in STATIC_BANDS.items()},
        arrival_time=quantize(arrival),
        event_id=params["event_id"],
        source=SOURCE,
        attrs=attrs,
    )
    ev["static"].attrs["units"] = json.dumps({k: unit for k, (_kind, unit) in STATIC_BANDS.items()})
    return ev


def _simulator_attrs(params: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    return {
        "time_step_hours": 1.0,
        "simulator": SOURCE,
        "simulator_version": str(result.get("simulator_version", "unknown")),
        "simulator_license": "EPL-2.0 (pyretechnics <= 2026.8.10)",
        "stop_condition": str(result.get("stop_condition", "")),
        "dataset_seed": int(params["seed"]),
        "event_index": int(params["index"]),
    }


def build_wide_event(params: dict[str, Any], landscape: Landscape, result: dict[str, Any]) -> xr.Dataset:
    """Assemble the FireEvent of one wide-generator simulation (``params_version`` 2).

    Frame ``t`` shows what had burned ``window.start_hour + t`` hours after ignition;
    ``arrival_time`` counts hours from the first frame (cells burned before it get 0);
    ``wind_u``/``wind_v`` at frame ``t`` are the mean of that hour's quarter-hour winds (the
    wind that drives the transition ``t -> t+1``). The scalar ``regime_*`` attributes
    (:func:`emberxr.simulate.stats.regime_values`) describe the event's regime.
    """
    from emberxr.simulate.stats import regime_values

    steps = int(params["steps"])
    start = int(params["window"]["start_hour"])
    toa = np.asarray(result["time_of_arrival"], dtype=np.float32)
    toa = np.where(toa <= start + steps - 1 + 1e-6, toa, np.nan).astype(np.float32)
    finite = np.where(np.isfinite(toa), toa, np.inf)
    hours = start + np.arange(steps, dtype=np.float32)[:, None, None]
    fire = (finite[None] <= hours).astype(np.uint8)
    arrival = np.where(np.isfinite(toa), np.maximum(toa - np.float32(start), np.float32(0.0)), np.nan)
    hourly = np.asarray(params["wind"]["hourly_mean_kmh"], np.float64)[start : start + steps]
    direction = np.asarray(params["wind"]["direction_from_deg"], np.float64)[start : start + steps]
    u, v = wind_uv_from_speed_dir(hourly / 3.6, direction)
    terrain = params["landscape"]["terrain"]
    attrs = {
        **_simulator_attrs(params, result),
        "params_version": 2,
        "dem": "fractal"
        if terrain["kind"] == "fractal"
        else Path(str(terrain.get("path", terrain["source"]))).name,
        "n_ignitions": len(params["ignitions"]),
        "wind_shifts": len(params["wind"]["fronts"]),
        "observation_start_hours": start,
        "duration_hours": int(params["duration_hours"]),
        **regime_values(params, fire, landscape.cell_size),
        "sim_params": json.dumps(params, sort_keys=True),
    }
    return _assemble(params, landscape, fire, arrival, u, v, attrs)


def burns_meaningfully(event: xr.Dataset) -> bool:
    """The dataset selection rule: the last frame has at least :data:`MIN_FINAL_CELLS` burned
    cells and the burned area grows in at least :data:`MIN_GROWING_SHARE` of the transitions."""
    fire = np.asarray(event["fire"].values)
    counts = fire.reshape(fire.shape[0], -1).sum(axis=1)
    grows = np.diff(counts) > 0
    return bool(counts[-1] >= MIN_FINAL_CELLS and grows.mean() >= MIN_GROWING_SHARE)
