"""Procedural landscapes: terrain, fuel that follows it, breaks, canopy; no simulator needed."""

from __future__ import annotations

import numpy as np
import pytest

from emberxr.simulate.landscape import (
    GRASS,
    NONBURNABLE,
    ROAD,
    SHRUB,
    TIMBER,
    WATER,
    build_landscape,
    draw_landscape_params,
    slope_aspect,
)


def _params(seed: int, size: int = 96, **over):
    p = draw_landscape_params(np.random.default_rng(seed), size)
    p.update(over)
    return p


def test_slope_aspect_north_up_convention():
    rows, cols = np.mgrid[0:10, 0:10].astype(float)
    # elevation rises towards the north (row 0): the ground faces (falls towards) the south
    s, a = slope_aspect(100.0 - 3.0 * rows, 30.0)
    assert np.allclose(a, 180.0) and np.allclose(s, np.rad2deg(np.arctan(0.1)))
    # rises towards the east: downslope is west
    _, a = slope_aspect(3.0 * cols, 30.0)
    assert np.allclose(a, 270.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fuel_follows_terrain(seed):
    land = build_landscape(_params(seed, water_share=0.0, rock_share=0.0, n_roads=0))
    e = land.elevation
    mean_e = [e[np.isin(land.fuel_model, group)].mean() for group in (GRASS, SHRUB, TIMBER)]
    assert mean_e[0] < mean_e[1] < mean_e[2], mean_e  # grass low, shrub between, timber high
    north = np.cos(np.deg2rad(land.aspect_deg))
    assert north[np.isin(land.fuel_model, TIMBER)].mean() > north[np.isin(land.fuel_model, GRASS)].mean()


def test_relief_range_and_grid():
    for seed in range(6):
        p = _params(seed, size=64)
        land = build_landscape(p)
        assert 100.0 <= p["relief_m"] <= 1000.0
        assert abs(float(np.ptp(land.elevation)) - p["relief_m"]) <= 1.0  # rounded to 1 m
        assert land.shape == (64, 64) and land.cell_size == 30.0
        for a in land.static_bands().values():
            assert a.dtype == np.float32 and np.isfinite(a).all()
            assert np.array_equal(a, a.astype(np.float16).astype(np.float32))  # float16-exact


def test_breaks_and_canopy():
    land = build_landscape(_params(4, water_share=0.03, rock_share=0.02, n_roads=2))
    fuel = land.fuel_model
    water = fuel == WATER
    assert water.any() and land.elevation[water].max() <= np.quantile(land.elevation, 0.05)
    roads = fuel == ROAD
    assert 0 < roads.sum() < 2 * 96  # two roads, each with gaps
    assert not land.burnable[np.isin(fuel, NONBURNABLE)].any()
    timber = np.isin(fuel, TIMBER)
    assert (land.canopy_cover[timber] > 0).all() and (land.canopy_cover[~timber] == 0).all()
    assert (land.canopy_base_height <= land.canopy_height).all()


def test_reproducible_from_params():
    p = _params(7)
    a, b = build_landscape(p), build_landscape(dict(p))
    for k, v in a.static_bands().items():
        assert np.array_equal(v, b.static_bands()[k]), k
    c = build_landscape(_params(8))
    assert not np.array_equal(a.elevation, c.elevation)


def test_jacksboro_real_dem():
    p = draw_landscape_params(np.random.default_rng(0), 64, dem="jacksboro")
    land = build_landscape(p)
    assert land.shape == (64, 64)
    assert 236.0 <= land.elevation.min() and land.elevation.max() <= 1076.0  # the DEM's range
    assert land.burnable.mean() > 0.5
    with pytest.raises(ValueError, match="unknown dem"):
        draw_landscape_params(np.random.default_rng(0), 64, dem="moon")
