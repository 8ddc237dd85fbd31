"""Draw every random parameter of one simulated event, and turn parameters into a scenario.

Event ``index`` of a dataset with seed ``seed`` draws from
``np.random.default_rng(np.random.SeedSequence([seed, index]))``: the landscape, the weather,
the fuel moisture, the ignition points, the start time and the map position. The result is a
plain JSON dictionary (stored in the event's ``sim_params`` attribute); :func:`make_scenario`
rebuilds the exact simulator inputs from it.

Two parameter versions exist and both stay reproducible:

- version 1 (:func:`draw_event`, ``sim-small``): procedural mixed landscapes, hourly wind,
  three moisture scenarios, point ignitions, a fixed number of hourly frames from ignition;
- version 2 (:func:`draw_wide_event`, ``sim-wide``): five landscape styles, fractal or real
  terrain, quarter-hour gusty wind with a diurnal cycle and fronts, continuous and diurnal fuel
  moisture, point or line ignitions, and an observation window (:func:`draw_window`) that starts
  0-46 hours after ignition and holds 3-33 hourly frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emberxr.simulate.engine import Scenario
from emberxr.simulate.landscape import Landscape, build_landscape, draw_landscape_params
from emberxr.simulate.weather import draw_ignitions, draw_moisture, draw_wind

PARAMS_VERSION = 1
WIDE_PARAMS_VERSION = 2
MAX_DURATION_HOURS = 48  # version 2: the last frame is at most this many hours after ignition
FRACTAL_CRS = "EPSG:32611"  # WGS 84 / UTM zone 11N (the US West)
JACKSBORO_CRS = "EPSG:32616"  # WGS 84 / UTM zone 16N (Tennessee, where the real DEM lies)


def event_rng(seed: int, index: int) -> np.random.Generator:
    """The generator event ``index`` of a dataset with ``seed`` draws from."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def _jacksboro_origin(p: dict[str, Any]) -> tuple[float, float]:
    """UTM 16N coordinates of the north-west corner of the DEM window (from its lon/lat grid)."""
    from pyproj import Transformer

    lon0, lat_north, step = -84.41375, 36.73291667, 0.00083333333
    lon = lon0 + p["dem_col"] * step
    lat = lat_north - p["dem_row"] * step
    x, y = Transformer.from_crs("EPSG:4326", JACKSBORO_CRS, always_xy=True).transform(lon, lat)
    return float(x), float(y)


def draw_event_params(seed: int, index: int, **kwargs: Any) -> dict[str, Any]:
    """Draw all parameters of one event (see :func:`draw_event`); returns the parameters only."""
    return draw_event(seed, index, **kwargs)[0]


def draw_event(
    seed: int,
    index: int,
    *,
    size: int = 128,
    steps: int = 12,
    dem: str = "fractal",
    cell_size: float = 30.0,
    prefix: str = "sim",
) -> tuple[dict[str, Any], Landscape]:
    """Draw all parameters of one event, and the landscape they describe.

    Parameters
    ----------
    seed, index
        Dataset seed and event index (together they seed the generator).
    size
        Domain edge in cells (square, ``cell_size`` metres each).
    steps
        Number of hourly fire frames; the fire burns for ``steps - 1`` hours.
    dem
        ``"fractal"`` (procedural terrain) or ``"jacksboro"`` (matplotlib's real DEM).
    prefix
        Event ids are ``f"{prefix}-{index:05d}"``.

    Returns
    -------
    params : dict
        JSON-serialisable parameters; feed them to :func:`make_scenario`.
    landscape : Landscape
        ``build_landscape(params["landscape"])``, already built to place the ignitions.
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2 (got {steps})")
    if size < 16:
        raise ValueError(f"size must be >= 16 cells (got {size})")
    rng = event_rng(seed, index)
    land = draw_landscape_params(rng, size, dem=dem, cell_size=cell_size)
    wind = draw_wind(rng, steps)
    moisture = draw_moisture(rng)
    day = int(rng.integers(0, 92))
    hour = int(rng.integers(10, 15))
    start = np.datetime64("2026-06-01T00:00") + np.timedelta64(day * 24 + hour, "h")
    if dem == "jacksboro":
        crs = JACKSBORO_CRS
        x0, y0 = _jacksboro_origin(land)
        x0, y0 = round(x0 / cell_size) * cell_size, round(y0 / cell_size) * cell_size
    else:
        crs = FRACTAL_CRS
        x0 = float(rng.integers(300_000, 700_000) // 30 * 30)
        y0 = float(rng.integers(3_800_000, 4_600_000) // 30 * 30)
    # ignitions depend on the built landscape (burnable cells) and the first hour's wind
    landscape = build_landscape(land)
    ignitions = draw_ignitions(rng, landscape.burnable, wind["direction_from_deg"][0])
    params = {
        "params_version": PARAMS_VERSION,
        "event_id": f"{prefix}-{index:05d}",
        "seed": int(seed),
        "index": int(index),
        "steps": int(steps),
        "start_time": str(start),
        "crs": crs,
        "x0": float(x0),
        "y0": float(y0),
        "landscape": land,
        "wind": wind,
        "moisture": moisture,
        "ignitions": ignitions,
    }
    return params, landscape


def make_scenario(params: dict[str, Any], landscape: Landscape | None = None) -> tuple[Landscape, Scenario]:
    """Build the landscape and the simulator request that ``params`` describe (either version)."""
    if int(params.get("params_version", PARAMS_VERSION)) == WIDE_PARAMS_VERSION:
        return _make_wide_scenario(params, landscape)
    land = landscape if landscape is not None else build_landscape(params["landscape"])
    slope_rise_run = np.tan(np.deg2rad(land.slope_deg.astype(np.float64))).astype(np.float32)
    arrays = {
        "slope": slope_rise_run,
        "aspect": land.aspect_deg,
        "fuel_model": land.fuel_model,
        "canopy_cover": land.canopy_cover,
        "canopy_height": land.canopy_height,
        "canopy_base_height": land.canopy_base_height,
        "canopy_bulk_density": land.canopy_bulk_density,
        "wind_speed_kmh": np.asarray(params["wind"]["speed_kmh"], np.float32),
        "wind_from_deg": np.asarray(params["wind"]["direction_from_deg"], np.float32),
    }
    meta = {
        "event_id": params["event_id"],
        "duration_hours": int(params["steps"]) - 1,
        "cell_size": float(land.cell_size),
        "moisture": {k: v for k, v in params["moisture"].items() if k != "scenario"},
        "ignitions": params["ignitions"],
    }
    return land, Scenario(arrays=arrays, meta=meta)


# -- version 2: the wide generator --------------------------------------------------------------
#: transitions per observation window: (probability, low, high) inclusive ranges
WINDOW_TRANSITIONS = ((0.72, 2, 8), (0.18, 9, 20), (0.10, 21, 32))
WINDOW_START_AT_IGNITION = 0.35  # share of windows whose first frame is the ignition hour


def draw_window(rng: np.random.Generator) -> dict[str, int]:
    """An observation window: ``frames`` hourly frames, the first ``start_hour`` hours after
    ignition.

    The number of transitions (``frames - 1``) is 2-8 with probability 0.72, 9-20 with 0.18 and
    21-32 with 0.10 (uniform inside each range), so histories of up to 32 frames exist while
    most samples have short histories, as real observation windows do. The window starts at
    ignition with probability :data:`WINDOW_START_AT_IGNITION`, otherwise 1 .. 48 - transitions
    hours later (log-uniform: most observations begin within the first hours), so the last frame
    is at most :data:`MAX_DURATION_HOURS` hours after ignition.
    """
    probs = [p for p, _lo, _hi in WINDOW_TRANSITIONS]
    k = int(rng.choice(len(WINDOW_TRANSITIONS), p=probs))
    _p, lo, hi = WINDOW_TRANSITIONS[k]
    transitions = int(rng.integers(lo, hi + 1))
    max_start = MAX_DURATION_HOURS - transitions
    if rng.uniform() < WINDOW_START_AT_IGNITION:
        start = 0
    else:
        start = int(np.clip(np.floor(np.exp(rng.uniform(0.0, np.log(max_start + 1)))), 1, max_start))
    return {"start_hour": start, "frames": transitions + 1}


def draw_wide_event(
    seed: int,
    index: int,
    *,
    size: int = 128,
    cell_size: float = 30.0,
    real_share: float = 0.2,
    dem: str = "jacksboro",
    styles: tuple[str, ...] | None = None,
    prefix: str = "sim",
) -> tuple[dict[str, Any], Landscape]:
    """Draw all parameters of one wide-generator event (parameter version 2) and its landscape.

    Parameters
    ----------
    seed, index
        Dataset seed and event index (together they seed the generator).
    size
        Domain edge in cells (square, ``cell_size`` metres each).
    real_share
        Probability that the terrain is a window of the real DEM ``dem`` rather than fractal.
    dem
        The real DEM: ``"jacksboro"`` (matplotlib's) or a GeoTIFF path (reprojected to the UTM
        zone of its centre, see :mod:`emberxr.simulate.dem`).
    styles
        Landscape styles to draw from (default: all, with
        :data:`~emberxr.simulate.styles.STYLE_WEIGHTS`).
    prefix
        Event ids are ``f"{prefix}-{index:05d}"``.

    Returns
    -------
    params : dict
        JSON-serialisable parameters (``params_version`` 2); feed them to :func:`make_scenario`.
    landscape : Landscape
        The landscape they describe, already built to place the ignition.
    """
    from emberxr.simulate.dem import draw_dem_window
    from emberxr.simulate.styles import STYLE_WEIGHTS, draw_styled_landscape_params
    from emberxr.simulate.weather import draw_wide_ignition, draw_wide_moisture, draw_wide_wind

    if size < 16:
        raise ValueError(f"size must be >= 16 cells (got {size})")
    names = list(styles or STYLE_WEIGHTS)
    unknown = [s for s in names if s not in STYLE_WEIGHTS]
    if unknown:
        raise ValueError(f"unknown landscape style(s) {unknown}; use {', '.join(STYLE_WEIGHTS)}")
    weights = np.asarray([STYLE_WEIGHTS[s] for s in names], dtype=np.float64)
    rng = event_rng(seed, index)
    real = bool(rng.uniform() < real_share)
    style = str(names[int(rng.choice(len(names), p=weights / weights.sum()))])
    window = draw_window(rng)
    hour_of_day = int(rng.integers(10, 18)) if rng.uniform() < 0.75 else int(rng.integers(0, 24))
    terrain: dict[str, Any] = {"kind": "fractal"}
    if real:
        terrain = {"kind": "real", **draw_dem_window(rng, dem, size, cell_size)}
    land = draw_styled_landscape_params(rng, size, style=style, terrain=terrain, cell_size=cell_size)
    duration = window["start_hour"] + window["frames"] - 1
    hours = duration + 1  # weather for every frame hour, the last one included
    wind = draw_wide_wind(rng, hours, hour_of_day)
    moisture = draw_wide_moisture(rng, hours, hour_of_day)
    day = int(rng.integers(0, 92))
    ignition_time = np.datetime64("2026-06-01T00:00") + np.timedelta64(day * 24 + hour_of_day, "h")
    if real:
        from emberxr.simulate.dem import dem_window

        _z, x0, y0, crs = dem_window(terrain, size, cell_size)
    else:
        crs = FRACTAL_CRS
        x0 = float(rng.integers(300_000, 700_000) // cell_size * cell_size)
        y0 = float(rng.integers(3_800_000, 4_600_000) // cell_size * cell_size)
    landscape = build_landscape(land)
    ignition = draw_wide_ignition(rng, landscape.burnable, wind["direction_from_deg"][0])
    params = {
        "params_version": WIDE_PARAMS_VERSION,
        "event_id": f"{prefix}-{index:05d}",
        "seed": int(seed),
        "index": int(index),
        "steps": int(window["frames"]),
        "window": window,
        "duration_hours": int(duration),
        "ignition_time": str(ignition_time),
        "start_time": str(ignition_time + np.timedelta64(window["start_hour"], "h")),
        "crs": crs,
        "x0": float(x0),
        "y0": float(y0),
        "landscape": land,
        "wind": wind,
        "moisture": moisture,
        "ignition": ignition,
        "ignitions": ignition["cells"],
    }
    return params, landscape


def _make_wide_scenario(params: dict[str, Any], landscape: Landscape | None) -> tuple[Landscape, Scenario]:
    from emberxr.simulate.weather import BANDS_PER_HOUR

    land = landscape if landscape is not None else build_landscape(params["landscape"])
    slope_rise_run = np.tan(np.deg2rad(land.slope_deg.astype(np.float64))).astype(np.float32)
    moisture = params["moisture"]
    arrays = {
        "slope": slope_rise_run,
        "aspect": land.aspect_deg,
        "fuel_model": land.fuel_model,
        "canopy_cover": land.canopy_cover,
        "canopy_height": land.canopy_height,
        "canopy_base_height": land.canopy_base_height,
        "canopy_bulk_density": land.canopy_bulk_density,
        "wind_speed_kmh": np.asarray(params["wind"]["speed_kmh"], np.float32),
        "wind_from_deg": np.repeat(
            np.asarray(params["wind"]["direction_from_deg"], np.float32), BANDS_PER_HOUR
        ),
        "moisture_dead_1hr": np.asarray(moisture["dead_1hr"], np.float32),
        "moisture_dead_10hr": np.asarray(moisture["dead_10hr"], np.float32),
    }
    meta = {
        "event_id": params["event_id"],
        "duration_hours": int(params["duration_hours"]),
        "band_minutes": 60.0 / BANDS_PER_HOUR,
        "cell_size": float(land.cell_size),
        "moisture": {
            k: float(moisture[k]) for k in ("dead_100hr", "live_herbaceous", "live_woody", "foliar")
        },
        "ignitions": params["ignitions"],
    }
    return land, Scenario(arrays=arrays, meta=meta)
