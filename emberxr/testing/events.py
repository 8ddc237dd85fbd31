"""Tiny CRS-tagged synthetic fire events, built in memory.

The synthetic fire is an ellipse stretched downwind from an ignition point (arrival time grows
with wind-adjusted distance), on a 30 m UTM grid. It is small enough for fast tests and has every
part of the FireEvent data model (``docs/data-model.md``): fire masks, static bands of all three
kinds, a wind series, a validity footprint and an arrival-time raster::

    from emberxr.testing import synthetic_event, synthetic_events
    ev = synthetic_event(height=32, width=40, steps=8, invalid_border=4)
    train = synthetic_events(6)          # six events, different seeds and wind directions
    ev = synthetic_event(dynamic=True)   # with gridded daily-style inputs (variable `dynamic`)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["CELL", "CRS", "WIND_DIRECTIONS", "synthetic_event", "synthetic_events"]

#: coordinate reference system of every synthetic event (UTM zone 11N)
CRS = "EPSG:32611"
#: cell size in metres
CELL = 30.0
#: wind directions (degrees the wind blows from) cycled through by :func:`synthetic_events`
WIND_DIRECTIONS = (270.0, 180.0, 90.0, 0.0, 225.0, 315.0)


def synthetic_event(
    height: int = 32,
    width: int = 40,
    steps: int = 8,
    seed: int = 0,
    event_id: str = "synthetic-0",
    wind_from_deg: float = 270.0,
    invalid_border: int = 0,
    dynamic: bool = False,
    fire_kind: str = "cumulative",
) -> xr.Dataset:
    """A small FireEvent with a fire spreading downwind over ``steps`` hourly frames.

    Parameters
    ----------
    height, width
        Grid size in cells (any size ≥ 1; the fire starts near the middle of the left third).
    steps
        Number of hourly fire frames.
    seed
        Seed of the ignition jitter, wind speed and terrain noise.
    event_id
        The event's ``event_id`` attribute.
    wind_from_deg
        Direction the wind blows from (degrees, meteorological convention): the fire spreads
        the other way.
    invalid_border
        Rightmost columns outside the event footprint (``valid`` False, no fire there).
    dynamic
        Add the dynamic bands ``tmax`` (continuous, °C, warming over time, NaN = missing in a
        small block of the second step), ``wind_dir_sin`` / ``wind_dir_cos`` (the direction the
        wind blows from, as a compass bearing pair) and ``landcover`` (categorical codes 1, 2, 5).
    fire_kind
        ``"cumulative"`` (burned by each step) or ``"active"``: ``fire`` then holds the ring of
        cells that caught fire within the last 1.5 steps (the front), and the event's attribute
        ``fire_kind`` says so.

    Returns
    -------
    xarray.Dataset
        A valid FireEvent (``emberxr.validate`` passes) with ``fire``, the static bands
        ``elevation``, ``slope``, ``fuel_model``, ``water``, wind ``u``/``v``, ``valid`` and
        ``arrival_time`` (hours; NaN where the fire never arrives within ``steps``).
    """
    from emberxr.schema import make_event, wind_uv_from_speed_dir

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy = height / 2 + rng.uniform(-2, 2)
    cx = width / 3 + rng.uniform(-2, 2)
    speed = np.full(steps, 6.0 + rng.uniform(0, 3), dtype=np.float32)
    direction = np.full(steps, wind_from_deg, dtype=np.float32)
    u, v = wind_uv_from_speed_dir(speed, direction)
    # downwind unit vector in (row, col): v points north = decreasing row
    du, dv = float(u.mean()), float(v.mean())
    norm = max(np.hypot(du, dv), 1e-6)
    ex, ey = du / norm, -dv / norm
    dx, dy = xx - cx, yy - cy
    along = dx * ex + dy * ey
    across = -dx * ey + dy * ex
    dist = np.sqrt((np.where(along > 0, along / 1.8, along * 1.3)) ** 2 + across**2)
    arrival = dist / 1.6  # cells per hour
    elevation = 300 + 20 * np.sin(xx / 7.0) + 10 * np.cos(yy / 5.0) + rng.normal(0, 1, (height, width))
    slope = np.abs(np.gradient(elevation)[0]) + np.abs(np.gradient(elevation)[1])
    fuel = np.where(elevation > 310, 165, 102).astype(np.float32)  # Scott & Burgan TU5 / GR2
    water = np.zeros((height, width), np.float32)
    water[-3:, :5] = 1
    arrival = np.where(water > 0, np.inf, arrival)
    if fire_kind == "active":  # the burning front: caught fire within the last 1.5 steps
        fire = np.stack([((arrival <= t + 0.5) & (arrival > t - 1.0)).astype(np.uint8) for t in range(steps)])
    else:
        fire = np.stack([(arrival <= t + 0.5).astype(np.uint8) for t in range(steps)])
    valid = np.ones((height, width), bool)
    if invalid_border:
        valid[:, -invalid_border:] = False
        fire[:, ~valid] = 0
    arrival_h = np.where(np.isfinite(arrival) & (arrival <= steps), arrival, np.nan).astype(np.float32)
    x = 500_000.0 + CELL / 2 + CELL * np.arange(width)
    y = 4_200_000.0 - CELL / 2 - CELL * np.arange(height)
    times = np.datetime64("2026-07-01T12:00") + np.arange(steps) * np.timedelta64(1, "h")
    extra: dict[str, Any] = {}
    if dynamic:
        tmax = 25.0 + 0.5 * np.arange(steps)[:, None, None] + 0.05 * (elevation - 300)[None]
        tmax = tmax + rng.normal(0, 0.3, (steps, height, width))
        if steps > 1:
            tmax[1, :3, :3] = np.nan  # a missing block
        bearing = np.deg2rad(np.full((steps, height, width), wind_from_deg))
        landcover = np.where(yy > height / 2, 1.0, np.where(xx > width / 2, 2.0, 5.0))
        extra = {
            "dynamic": {
                "tmax": tmax,
                "wind_dir_sin": np.sin(bearing),
                "wind_dir_cos": np.cos(bearing),
                "landcover": np.broadcast_to(landcover, (steps, height, width)),
            },
            "dynamic_kinds": {"landcover": "categorical"},
        }
    return make_event(
        fire,
        {"elevation": elevation, "slope": slope, "fuel_model": fuel, "water": water},
        u,
        v,
        times=times,
        x=x,
        y=y,
        crs=CRS,
        band_kinds={
            "elevation": "continuous",
            "slope": "continuous",
            "fuel_model": "categorical",
            "water": "binary",
        },
        valid=valid,
        arrival_time=arrival_h,
        event_id=event_id,
        source="synthetic",
        attrs={"time_step_hours": 1.0, **({"fire_kind": fire_kind} if fire_kind != "cumulative" else {})},
        **extra,
    )


def synthetic_events(n: int = 6, **kwargs: Any) -> list[xr.Dataset]:
    """``n`` synthetic events ``synthetic-0 … synthetic-{n-1}``: seeds 0…n-1, winds from :data:`WIND_DIRECTIONS`.

    Parameters
    ----------
    n
        Number of events.
    **kwargs
        Passed on to :func:`synthetic_event` (``height``, ``width``, ``steps``, ``invalid_border``,
        ``dynamic``, ``fire_kind``).

    Returns
    -------
    list of xarray.Dataset
    """
    return [
        synthetic_event(
            seed=i,
            event_id=f"synthetic-{i}",
            wind_from_deg=WIND_DIRECTIONS[i % len(WIND_DIRECTIONS)],
            **kwargs,
        )
        for i in range(n)
    ]
