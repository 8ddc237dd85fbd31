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


# -- the wide generator (params version 2) ------------------------------------------------------
#: quarter-hour weather bands: the simulator sees wind gusts at this resolution
BANDS_PER_HOUR = 4
WIDE_MAX_MEAN_KMH = 50.0  # hourly mean 10-m wind is kept in 0 .. 50 km/h
WIDE_MAX_GUST_KMH = 70.0  # quarter-hour gusts are capped here
PEAK_HOUR = 15.0  # local solar hour of the diurnal wind maximum and the 1-h moisture minimum


def diurnal_phase(start_hour_of_day: float, hours: int) -> np.ndarray:
    """``cos(2π (h - 15) / 24)`` for each hour ``h`` of an event that starts at the given local
    hour: +1 at 15:00 (windiest, driest), -1 at 03:00."""
    hod = (float(start_hour_of_day) + np.arange(hours)) % 24.0
    return np.cos(2.0 * np.pi * (hod - PEAK_HOUR) / 24.0)


def draw_wide_wind(rng: np.random.Generator, hours: int, start_hour_of_day: int) -> dict[str, Any]:
    """A wind series for the wide generator: hourly means with a diurnal cycle, drift, fronts, and
    quarter-hour gusts.

    - the event's daily-mean 10-m speed ``mean_kmh`` ~ U(0, 45) km/h;
    - a diurnal cycle of relative amplitude ~ U(0.1, 0.6) peaking at 15:00 local time;
    - an hourly multiplicative drift (σ = 0.06) and a direction drift of ±6° per hour;
    - 0 (45 %), 1 (40 %) or 2 (15 %) fronts: the direction turns by 30–180° (either way) over
      1–3 hours and the speed rises by ×1.1–1.8 at the front, relaxing over 2–6 hours;
    - quarter-hour gusts: each quarter hour is the hourly mean times a log-normal factor of
      σ = ``gustiness`` ~ U(0.05, 0.35), the four factors of an hour scaled to mean one (so the
      hour keeps its mean unless a gust hits the cap).

    Hourly means are kept in 0 .. :data:`WIDE_MAX_MEAN_KMH`, quarter hours in 0 ..
    :data:`WIDE_MAX_GUST_KMH`.

    Returns
    -------
    dict
        ``speed_kmh`` (quarter-hour speeds, ``BANDS_PER_HOUR * hours`` values: what the simulator
        sees), ``direction_from_deg`` (one per hour), ``hourly_mean_kmh`` (mean of each hour's
        quarter hours), ``mean_kmh``, ``diurnal_amplitude``, ``gustiness``, ``fronts``.
    """
    mean_kmh = float(rng.uniform(0.0, 45.0))
    amplitude = float(rng.uniform(0.1, 0.6))
    gustiness = float(rng.uniform(0.05, 0.35))
    base_dir = float(rng.uniform(0.0, 360.0))
    steps = np.arange(hours)
    speed = mean_kmh * (1.0 + amplitude * diurnal_phase(start_hour_of_day, hours))
    speed = speed * np.exp(np.cumsum(rng.normal(0.0, 0.06, hours)))
    direction = base_dir + np.cumsum(rng.normal(0.0, 6.0, hours))
    fronts: list[dict[str, float]] = []
    n_fronts = int(rng.choice([0, 1, 2], p=[0.45, 0.4, 0.15])) if hours >= 3 else 0
    for _ in range(n_fronts):
        at = int(rng.integers(1, hours))
        delta = float(rng.choice([-1.0, 1.0]) * rng.uniform(30.0, 180.0))
        ramp = int(rng.integers(1, 4))
        boost = float(rng.uniform(1.1, 1.8))
        relax = int(rng.integers(2, 7))
        fronts.append(
            {"hour": at, "delta_deg": round(delta, 3), "ramp_hours": ramp, "boost": round(boost, 4),
             "relax_hours": relax}
        )  # fmt: skip
        direction = direction + delta * np.clip((steps - at + 1) / ramp, 0.0, 1.0)
        speed = speed * (1.0 + (boost - 1.0) * np.exp(-np.abs(steps - at) / relax))
    hourly = np.clip(speed, 0.0, WIDE_MAX_MEAN_KMH)
    factors = np.exp(gustiness * rng.standard_normal((hours, BANDS_PER_HOUR)))
    factors = factors / factors.mean(axis=1, keepdims=True)  # each hour keeps its mean
    quarter = np.clip(hourly[:, None] * factors, 0.0, WIDE_MAX_GUST_KMH)
    quarter = np.round(quarter, 3)
    return {
        "speed_kmh": [float(s) for s in quarter.ravel()],
        "direction_from_deg": [round(float(d % 360.0), 3) for d in direction],
        "hourly_mean_kmh": [round(float(s), 4) for s in quarter.mean(axis=1)],
        "mean_kmh": round(mean_kmh, 4),
        "diurnal_amplitude": round(amplitude, 4),
        "gustiness": round(gustiness, 4),
        "fronts": fronts,
    }


def draw_wide_moisture(rng: np.random.Generator, hours: int, start_hour_of_day: int) -> dict[str, Any]:
    """Fuel moisture for the wide generator, drawn continuously (fractions, kg water / kg fuel).

    - 1-h dead: the afternoon minimum ``dead_1hr_min`` ~ U(0.02, 0.15); it recovers overnight
      to ``dead_1hr_min * recovery`` (recovery ~ U(1.15, 1.6)) on a cosine cycle (driest at 15:00);
    - 10-h dead: the 1-h series plus U(0.005, 0.02) (heavier fuels are never drier);
    - 100-h dead: the event's mean 10-h value plus U(0.01, 0.03), constant;
    - live: a curing state c = 0.1 + 0.8 Beta(3, 1) + 0.2 dryness, clipped to [0, 1] (dryness
      is 1 at 2 % and 0 at 15 % 1-h moisture; mostly cured, as in a fire season, sometimes green),
      sets live herbaceous 0.3 + 2.0 (1 - c) (30–230 %), live woody 0.6 + 1.2 (1 - c) x U(0.6, 1)
      (60–180 %) and foliar 0.8 + 0.5 (1 - c) (80–130 %).

    Returns
    -------
    dict
        Hourly series ``dead_1hr``, ``dead_10hr`` (``hours`` values each), scalars
        ``dead_100hr``, ``live_herbaceous``, ``live_woody``, ``foliar``, and the drawn
        ``dead_1hr_min``, ``recovery``, ``curing``.
    """
    m1 = float(rng.uniform(0.02, 0.15))
    recovery = float(rng.uniform(1.15, 1.6))
    offset_10 = float(rng.uniform(0.005, 0.02))
    offset_100 = float(rng.uniform(0.01, 0.03))
    dryness = 1.0 - (m1 - 0.02) / 0.13  # 1 at 2 %, 0 at 15 %
    curing = float(np.clip(0.1 + 0.8 * rng.beta(3.0, 1.0) + 0.2 * dryness, 0.0, 1.0))
    green = 1.0 - curing
    night = (1.0 - diurnal_phase(start_hour_of_day, hours)) / 2.0  # 0 at 15:00, 1 at 03:00
    one = np.round(m1 * (1.0 + (recovery - 1.0) * night), 5)
    ten = np.round(one + offset_10, 5)
    return {
        "dead_1hr": [float(v) for v in one],
        "dead_10hr": [float(v) for v in ten],
        "dead_100hr": round(float(np.mean(ten)) + offset_100, 5),
        "live_herbaceous": round(0.3 + 2.0 * green, 4),
        "live_woody": round(0.6 + 1.2 * green * float(rng.uniform(0.6, 1.0)), 4),
        "foliar": round(0.8 + 0.5 * green, 4),
        "dead_1hr_min": round(m1, 5),
        "recovery": round(recovery, 4),
        "curing": round(curing, 4),
    }


def _line_cells(r0: float, c0: float, r1: float, c1: float) -> list[tuple[int, int]]:
    """Cells of a straight segment, 4-connected (no diagonal gaps), in order from the first end."""
    n = int(np.ceil(max(abs(r1 - r0), abs(c1 - c0)))) * 2 + 1
    rows = np.round(np.linspace(r0, r1, n)).astype(int)
    cols = np.round(np.linspace(c0, c1, n)).astype(int)
    cells: list[tuple[int, int]] = []
    for r, c in zip(rows, cols):
        if cells and (r, c) != cells[-1] and r != cells[-1][0] and c != cells[-1][1]:
            cells.append((int(r), cells[-1][1]))  # close the diagonal step
        if not cells or (r, c) != cells[-1]:
            cells.append((int(r), int(c)))
    return cells


def draw_wide_ignition(
    rng: np.random.Generator, burnable: np.ndarray, wind_from_deg: float, line_share: float = 0.25
) -> dict[str, Any]:
    """Point (1–3) or line ignitions on burnable cells of a north-up grid.

    The first point, or the line's centre, lies upwind of the domain centre by 5–35 % of the
    domain; further points lie ~N(0, 12 % of the domain) from it; a line is 10–35 % of the
    domain long, turned 45–135° from the wind (a fire along a road or a power line). Points snap
    to the nearest burnable cell; a line keeps its burnable cells.

    Returns
    -------
    dict
        ``kind`` (``"point"`` or ``"line"``), ``cells`` (the ignited ``[row, col]`` cells) and, for
        a line, ``ends`` (its two end points).
    """
    n_rows, n_cols = burnable.shape
    if not burnable.any():
        raise ValueError("the landscape has no burnable cell to ignite")
    n = min(n_rows, n_cols)
    towards = np.deg2rad(wind_from_deg + 180.0)
    d_col, d_row = np.sin(towards), -np.cos(towards)
    back = rng.uniform(0.05, 0.35) * n
    r0 = float(np.clip(n_rows / 2 - d_row * back + rng.normal(0.0, 0.05 * n_rows), 2, n_rows - 3))
    c0 = float(np.clip(n_cols / 2 - d_col * back + rng.normal(0.0, 0.05 * n_cols), 2, n_cols - 3))
    rows, cols = np.nonzero(burnable)

    def snap(r: float, c: float) -> list[int]:
        k = int(np.argmin((rows - r) ** 2 + (cols - c) ** 2))
        return [int(rows[k]), int(cols[k])]

    if rng.uniform() < line_share:
        length = rng.uniform(0.1, 0.35) * n
        angle = towards + float(rng.choice([-1.0, 1.0])) * np.deg2rad(rng.uniform(45.0, 135.0))
        dr, dc = -np.cos(angle) * length / 2, np.sin(angle) * length / 2
        ends = [
            [float(np.clip(r0 - dr, 1, n_rows - 2)), float(np.clip(c0 - dc, 1, n_cols - 2))],
            [float(np.clip(r0 + dr, 1, n_rows - 2)), float(np.clip(c0 + dc, 1, n_cols - 2))],
        ]
        cells = [[r, c] for r, c in _line_cells(*ends[0], *ends[1]) if burnable[r, c]]
        if not cells:  # the whole line fell on a break: light its nearest burnable cell
            cells = [snap(r0, c0)]
        return {"kind": "line", "ends": [[round(v, 3) for v in e] for e in ends], "cells": cells}
    count = int(rng.choice([1, 2, 3], p=[0.6, 0.25, 0.15]))
    points: list[list[int]] = []
    for i in range(count):
        r = r0 if i == 0 else r0 + rng.normal(0.0, 0.12 * n)
        c = c0 if i == 0 else c0 + rng.normal(0.0, 0.12 * n)
        cell = snap(float(np.clip(r, 2, n_rows - 3)), float(np.clip(c, 2, n_cols - 3)))
        if cell not in points:
            points.append(cell)
    return {"kind": "point", "cells": points}
