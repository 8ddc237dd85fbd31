"""Run pyretechnics on a batch of prepared fire scenarios (the simulator side of the bridge).

This file is a standalone script: it imports only the standard library, numpy and pyretechnics,
so the simulator environment (``.venv-sim``, which has no xarray or torch) runs it by path::

    .venv-sim/bin/python emberxr/simulate/engine_worker.py REQUEST.npz RESULT.npz

``REQUEST.npz`` holds ``meta`` (a JSON string: a list with one dict per scenario) and, for
scenario ``i``, the arrays ``e{i}__<name>`` named in :data:`GRID_INPUTS` (north-up, float32, H×W)
plus ``e{i}__wind_speed_kmh`` and ``e{i}__wind_from_deg`` (one value per simulated hour).
Each meta dict has ``duration_hours``, ``cell_size`` (m), ``moisture`` (fractions, keys as in
:data:`MOISTURE_KEYS`) and ``ignitions`` (north-up ``[row, col]`` cells), and optionally
``band_minutes`` (the length of one weather band, default 60: the wind arrays hold one value per
band). A moisture value may instead come as a time series ``e{i}__moisture_<key>`` (for example
``moisture_dead_1hr``, one value per hour); the number of weather bands must then be a multiple
of its length.

``RESULT.npz`` holds, for scenario ``i``, ``e{i}__time_of_arrival`` (hours, NaN = not burned),
``e{i}__fire_type`` (0 unburned, 1 surface, 2 passive crown, 3 active crown) and
``e{i}__fireline_intensity`` (kW/m), all north-up, plus ``meta`` (stop conditions and version).

pyretechnics stores grids with row 0 at the *south* edge; this module flips on the way in and
on the way out, so callers only ever see north-up arrays.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

GRID_INPUTS = (
    "slope",  # rise / run
    "aspect",  # degrees clockwise from north, downslope direction
    "fuel_model",
    "canopy_cover",  # fraction
    "canopy_height",  # m
    "canopy_base_height",  # m
    "canopy_bulk_density",  # kg m-3
)
MOISTURE_KEYS = {
    "fuel_moisture_dead_1hr": "dead_1hr",
    "fuel_moisture_dead_10hr": "dead_10hr",
    "fuel_moisture_dead_100hr": "dead_100hr",
    "fuel_moisture_live_herbaceous": "live_herbaceous",
    "fuel_moisture_live_woody": "live_woody",
    "foliar_moisture": "foliar",
}
BAND_MINUTES = 60.0


def _south_up(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32)[::-1])


def simulator_version() -> str:
    """The installed pyretechnics version (``"unknown"`` when metadata is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pyretechnics")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def simulate_one(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> dict[str, Any]:
    """Simulate one scenario; returns north-up output arrays and the stop condition."""
    import pyretechnics.eulerian_level_set as els
    from pyretechnics.space_time_cube import SpaceTimeCube

    rows, cols = np.shape(arrays["fuel_model"])
    speed = np.asarray(arrays["wind_speed_kmh"], dtype=np.float32)
    wind_from = np.asarray(arrays["wind_from_deg"], dtype=np.float32)
    band_minutes = float(meta.get("band_minutes", BAND_MINUTES))
    duration_min = float(meta["duration_hours"]) * 60.0
    bands = len(speed)
    if bands * band_minutes < duration_min:
        raise ValueError(
            f"wind series has {bands} bands of {band_minutes:g} min, the simulation needs {meta['duration_hours']} h"
        )
    shape = (bands, int(rows), int(cols))
    cubes: dict[str, Any] = {name: SpaceTimeCube(shape, _south_up(arrays[name])) for name in GRID_INPUTS}
    cubes["wind_speed_10m"] = SpaceTimeCube(shape, speed)
    cubes["upwind_direction"] = SpaceTimeCube(shape, wind_from)
    for cube_name, key in MOISTURE_KEYS.items():
        series = arrays.get(f"moisture_{key}")
        if series is not None:
            cubes[cube_name] = SpaceTimeCube(shape, np.asarray(series, dtype=np.float32))
        else:
            cubes[cube_name] = SpaceTimeCube(shape, float(meta["moisture"][key]))
    state = els.SpreadState(shape)
    for r, c in meta["ignitions"]:
        state.ignite_cell((int(rows) - 1 - int(r), int(c)))
    cell = float(meta["cell_size"])
    out = els.spread_fire_with_phi_field(cubes, state, (band_minutes, cell, cell), 0.0, duration_min)
    full = out["spread_state"].get_full_matrices(["time_of_arrival", "fire_type", "fireline_intensity"])
    toa = np.asarray(full["time_of_arrival"], dtype=np.float32)[::-1] / np.float32(60.0)
    return {
        "time_of_arrival": np.ascontiguousarray(toa),
        "fire_type": np.ascontiguousarray(np.asarray(full["fire_type"], dtype=np.uint8)[::-1]),
        "fireline_intensity": np.ascontiguousarray(
            np.asarray(full["fireline_intensity"], dtype=np.float32)[::-1]
        ),
        "stop_condition": str(out["stop_condition"]),
    }


def run_batch(request_path: str, result_path: str) -> int:
    """Read a request file, simulate every scenario, write the result file."""
    with np.load(request_path, allow_pickle=False) as req:
        metas = json.loads(str(req["meta"]))
        arrays = {k: req[k] for k in req.files if k != "meta"}
    results: dict[str, np.ndarray] = {}
    stops = []
    for i, meta in enumerate(metas):
        prefix = f"e{i}__"
        mine = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        res = simulate_one(mine, meta)
        stops.append(res.pop("stop_condition"))
        results.update({prefix + k: v for k, v in res.items()})
    info = {"stop_conditions": stops, "simulator_version": simulator_version()}
    tmp = result_path + ".part.npz"
    np.savez(tmp, meta=np.asarray(json.dumps(info)), **results)
    import os

    os.replace(tmp, result_path)
    return 0


def main(argv: list[str]) -> int:
    """Command-line entry: ``engine_worker.py REQUEST.npz RESULT.npz`` (or ``--version``)."""
    if argv[:1] == ["--version"]:
        print(simulator_version())
        return 0
    if len(argv) != 2:
        print("usage: engine_worker.py REQUEST.npz RESULT.npz | --version", file=sys.stderr)
        return 2
    return run_batch(argv[0], argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
