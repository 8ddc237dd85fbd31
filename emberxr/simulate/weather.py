"""Hourly wind series, fuel-moisture scenarios and ignition points (numpy only).

All values are drawn from a caller's seeded generator and returned as plain JSON types, so
they can be stored in an event's attributes and replayed exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: fuel moisture (kg water / kg dry fuel): 1 h, 10 h, 100 h dead; live herbaceous, live woody; foliar
MOISTURE_SCENARIOS: dict[str, dict[str, float]] = {
    "dry": {"dead_1hr": 0.04, "dead_10hr": 0.05, "dead_100hr": 0.07, "live_herbaceous": 0.45,
            "live_woody": 0.70, "foliar": 0.85},
    "moderate": {"dead_1hr": 0.06, "dead_10hr": 0.07, "dead_100hr": 0.09, "live_herbaceous": 0.70,
                 "live_woody": 0.95, "foliar": 1.00},
    "moist": {"dead_1hr": 0.10, "dead_10hr": 0.11, "dead_100hr": 0.13, "live_herbaceous": 1.20,
              "live_woody": 1.40, "foliar": 1.20},
}  # fmt: skip
SCENARIO_WEIGHTS = {"dry": 0.35, "moderate": 0.45, "moist": 0.2}
SHIFT_SHARE = 0.6  # share of events whose wind direction shifts at least once


def draw_moisture(rng: np.random.Generator) -> dict[str, Any]:
    """Pick a moisture scenario and jitter each value by up to ±10 % (relative)."""
    names = list(SCENARIO_WEIGHTS)
    name = str(rng.choice(names, p=list(SCENARIO_WEIGHTS.values())))
    values = {k: round(float(v * rng.uniform(0.9, 1.1)), 4) for k, v in MOISTURE_SCENARIOS[name].items()}
    return {"scenario": name, **values}


def draw_wind(rng: np.random.Generator, hours: int) -> dict[str, Any]:
    """An hourly wind series: speed (km/h at 10 m) and the direction it blows *from*.

    A base speed (log-normal, median ~13 km/h) and direction (uniform) drift with hourly noise;
    :data:`SHIFT_SHARE` of the events get one or two direction shifts of 45–135° that ramp in over
    one to two hours (a frontal passage or a diurnal slope-wind reversal).
    """
    base_speed = float(np.clip(rng.lognormal(np.log(13.0), 0.45), 2.0, 35.0))
    base_dir = float(rng.uniform(0.0, 360.0))
    speed = base_speed * np.exp(np.cumsum(rng.normal(0.0, 0.08, hours)))
    speed = np.clip(speed * (1.0 + 0.15 * np.sin(np.linspace(0, np.pi, hours))), 0.5, 45.0)
    direction = base_dir + np.cumsum(rng.normal(0.0, 6.0, hours))
    shifts: list[dict[str, float]] = []
    if rng.uniform() < SHIFT_SHARE and hours >= 4:
        for _ in range(int(rng.integers(1, 3))):
            at = int(rng.integers(2, hours - 1))
            delta = float(rng.choice([-1.0, 1.0]) * rng.uniform(45.0, 135.0))
            ramp = int(rng.integers(1, 3))
            shifts.append({"hour": at, "delta_deg": round(delta, 3), "ramp_hours": ramp})
            step = np.clip((np.arange(hours) - at + 1) / ramp, 0.0, 1.0)
            direction = direction + delta * step
    return {
        "speed_kmh": [round(float(s), 3) for s in speed],
        "direction_from_deg": [round(float(d % 360.0), 3) for d in direction],
        "shifts": shifts,
    }


def draw_ignitions(
    rng: np.random.Generator, burnable: np.ndarray, wind_from_deg: float, max_points: int = 3
) -> list[list[int]]:
    """One to ``max_points`` ignition cells (row, col) on burnable cells of a north-up grid.

    The first point sits upwind of the centre (so the head fire has room to run inside the
    domain); further points fall within ~12 cells of it. Each point snaps to the nearest burnable
    cell.
    """
    n_rows, n_cols = burnable.shape
    if not burnable.any():
        raise ValueError("the landscape has no burnable cell to ignite")
    count = int(rng.choice([1, 2, 3], p=[0.7, 0.2, 0.1]))
    count = min(count, max_points)
    # downwind unit vector in (row, col): wind from the west (270°) moves east = +col
    towards = np.deg2rad(wind_from_deg + 180.0)
    d_col, d_row = np.sin(towards), -np.cos(towards)
    back = rng.uniform(0.05, 0.3) * min(n_rows, n_cols)
    r0 = n_rows / 2 - d_row * back + rng.normal(0.0, 0.06 * n_rows)
    c0 = n_cols / 2 - d_col * back + rng.normal(0.0, 0.06 * n_cols)
    rows, cols = np.nonzero(burnable)
    points: list[list[int]] = []
    for i in range(count):
        r = r0 if i == 0 else r0 + rng.normal(0.0, 6.0)
        c = c0 if i == 0 else c0 + rng.normal(0.0, 6.0)
        r = float(np.clip(r, 2, n_rows - 3))
        c = float(np.clip(c, 2, n_cols - 3))
        k = int(np.argmin((rows - r) ** 2 + (cols - c) ** 2))
        cell = [int(rows[k]), int(cols[k])]
        if cell not in points:
            points.append(cell)
    return points
