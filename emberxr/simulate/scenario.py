"""Draw every random parameter of one simulated event, and turn parameters into a scenario.

Event ``index`` of a dataset with seed ``seed`` draws from
``np.random.default_rng(np.random.SeedSequence([seed, index]))``: the landscape, the weather,
the fuel moisture, the ignition points, the start time and the map position. The result is a
plain JSON dictionary (stored in the event's ``sim_params`` attribute); :func:`make_scenario`
rebuilds the exact simulator inputs from it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emberxr.simulate.engine import Scenario
from emberxr.simulate.landscape import Landscape, build_landscape, draw_landscape_params
from emberxr.simulate.weather import draw_ignitions, draw_moisture, draw_wind

PARAMS_VERSION = 1
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
    """Build the landscape and the simulator request that ``params`` describe."""
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
