"""The wide generator's drawn parameters (no simulator): ranges, distributions, windows, ignitions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emberxr.simulate.landscape import NONBURNABLE, ROAD, WATER, build_landscape
from emberxr.simulate.scenario import (
    MAX_DURATION_HOURS,
    draw_wide_event,
    draw_window,
    event_rng,
    make_scenario,
)
from emberxr.simulate.stats import share_history_at_most
from emberxr.simulate.styles import STYLE_FUELS, STYLES, draw_styled_landscape_params
from emberxr.simulate.weather import BANDS_PER_HOUR, draw_wide_moisture, draw_wide_wind


@pytest.fixture(scope="module")
def drawn():
    """150 wide events on 32-cell domains (parameters and landscapes only)."""
    return [draw_wide_event(7, i, size=32) for i in range(150)]


def test_params_are_seeded_json_and_versioned(drawn):
    p, _land = drawn[3]
    assert p == draw_wide_event(7, 3, size=32)[0]
    assert p != drawn[4][0]
    assert json.loads(json.dumps(p)) == p
    assert p["params_version"] == 2 and p["event_id"] == "sim-00003"
    hours = p["duration_hours"] + 1
    assert len(p["wind"]["speed_kmh"]) == BANDS_PER_HOUR * hours
    assert len(p["wind"]["direction_from_deg"]) == len(p["moisture"]["dead_1hr"]) == hours
    land, sc = make_scenario(p)
    assert sc.meta["band_minutes"] == 15.0 and sc.meta["duration_hours"] == p["duration_hours"]
    assert sc.arrays["wind_from_deg"].shape == sc.arrays["wind_speed_kmh"].shape == (4 * hours,)
    assert sc.arrays["moisture_dead_1hr"].shape == (hours,)
    assert np.array_equal(land.fuel_model, drawn[3][1].fuel_model)  # rebuilt from params alone


def test_wind_covers_0_to_50_with_gusts_fronts_and_a_diurnal_cycle(drawn):
    means = np.array([p["wind"]["mean_kmh"] for p, _ in drawn])
    assert means.min() < 5 and means.max() > 38
    ratios = []
    for p, _ in drawn:
        w = p["wind"]
        quarter = np.asarray(w["speed_kmh"]).reshape(-1, BANDS_PER_HOUR)
        hourly = np.asarray(w["hourly_mean_kmh"])
        assert (hourly >= 0).all() and (hourly <= 50.0 + 1e-3).all()
        assert (quarter <= 70.0).all() and np.allclose(quarter.mean(axis=1), hourly, atol=1e-3)
        if hourly.mean() > 3:
            assert quarter.max() > hourly.max()  # gusts above the hourly mean
    # the diurnal cycle: over a day, afternoon winds beat the pre-dawn ones
    rng = np.random.default_rng(0)
    for _ in range(60):
        w = draw_wide_wind(rng, 24, 0)
        hourly = np.asarray(w["hourly_mean_kmh"])
        if w["mean_kmh"] > 5:
            ratios.append(hourly[12:18].mean() / max(hourly[0:6].mean(), 1e-6))
    assert np.median(ratios) > 1.2
    assert 0.35 < np.mean([len(p["wind"]["fronts"]) > 0 for p, _ in drawn]) < 0.75


def test_moisture_is_continuous_and_consistent(drawn):
    m1 = np.array([p["moisture"]["dead_1hr_min"] for p, _ in drawn])
    assert 0.02 <= m1.min() < 0.035 and 0.135 < m1.max() <= 0.15
    assert len(np.unique(m1)) > 0.9 * len(m1)  # continuous, not three scenarios
    for p, _ in drawn:
        m = p["moisture"]
        one, ten = np.asarray(m["dead_1hr"]), np.asarray(m["dead_10hr"])
        assert one.min() >= m["dead_1hr_min"] - 1e-5 and (ten > one).all()
        assert m["dead_100hr"] > ten.mean() and m["dead_100hr"] > ten.min()
        assert 0.3 <= m["live_herbaceous"] <= 2.3 and 0.6 <= m["live_woody"] <= 1.8
    herb = np.array([p["moisture"]["live_herbaceous"] for p, _ in drawn])
    assert herb.min() < 0.5 and herb.max() > 1.0
    # moisture recovers at night: the 1-h value at 03:00 is above the one at 15:00
    m = draw_wide_moisture(np.random.default_rng(1), 24, 0)
    assert m["dead_1hr"][3] > m["dead_1hr"][15] == pytest.approx(m["dead_1hr_min"], abs=1e-5)


def test_styles_terrain_and_ignitions(drawn):
    styles = [p["landscape"]["style"] for p, _ in drawn]
    assert set(styles) == set(STYLES)
    real = np.mean([p["landscape"]["terrain"]["kind"] == "real" for p, _ in drawn])
    assert 0.08 < real < 0.35
    kinds = [p["ignition"]["kind"] for p, _ in drawn]
    assert 0.1 < kinds.count("line") / len(kinds) < 0.45
    for p, land in drawn:
        cells = p["ignitions"]
        assert cells and all(land.burnable[r, c] for r, c in cells)
        if p["ignition"]["kind"] == "point":
            assert 1 <= len(cells) <= 3
        style = p["landscape"]["style"]
        burnable_models = set(np.unique(land.fuel_model[land.burnable]).astype(int))
        assert burnable_models <= set(sum(STYLE_FUELS[style], ())), style
        if p["landscape"]["terrain"]["kind"] == "real":
            assert p["crs"] == "EPSG:32616" and p["landscape"]["terrain"]["source"] == "jacksboro"
    lines = [p for p, _ in drawn if p["ignition"]["kind"] == "line"]
    assert max(len(p["ignitions"]) for p in lines) >= 5


def test_style_shares_and_wui_breaks():
    rng = np.random.default_rng(3)
    grass = {s: [] for s in STYLES}
    for s in STYLES:
        for _ in range(3):
            p = draw_styled_landscape_params(rng, 64, style=s, terrain={"kind": "fractal"})
            land = build_landscape(p)
            g = np.isin(land.fuel_model, STYLE_FUELS[s][0]).mean()
            grass[s].append(g)
            if s == "wui":
                assert (land.fuel_model == ROAD).mean() > 0.08  # developed land and wide roads
    assert min(grass["rangeland"]) > max(grass["timber"]) + 0.3
    p = draw_styled_landscape_params(rng, 64, style="wui", terrain={"kind": "fractal"})
    p.update(river=True, developed_share=0.0, water_share=0.0, n_roads=0)
    land = build_landscape(p)
    water = land.fuel_model == WATER
    # the river crosses the domain: every column (or every row) has water
    assert water.any(axis=0).all() or water.any(axis=1).all()
    # ... along the valley floor: lower than the ground on average
    assert land.elevation[water].mean() < land.elevation[~water].mean()
    with pytest.raises(ValueError, match="unknown landscape style"):
        draw_styled_landscape_params(rng, 32, style="desert", terrain={"kind": "fractal"})


def test_wide_roads_stop_diagonal_crossings():
    from emberxr.simulate.styles import wide_roads

    mask = wide_roads(np.random.default_rng(5), 48, 3)
    # no two burnable cells on either side of a road touch diagonally across it: every road
    # cell's diagonal step is closed by a 4-neighbour road cell
    down = mask[:-1, :-1] & mask[1:, 1:] & ~mask[1:, :-1] & ~mask[:-1, 1:]
    up = mask[:-1, 1:] & mask[1:, :-1] & ~mask[:-1, :-1] & ~mask[1:, 1:]
    assert not down.any() and not up.any()
    from emberxr.simulate.styles import _thick_line

    stair = np.zeros((8, 8), bool)
    _thick_line(stair, np.arange(8), 1, horizontal=True)  # a 45° line of width 1
    assert stair.sum() == 15  # 8 diagonal cells + 7 that close the diagonal steps
    assert mask.any(axis=1).all() or mask.any(axis=0).all()
    assert set(NONBURNABLE) >= {ROAD, WATER}


def test_windows_give_long_histories_and_mostly_short_ones():
    rng = np.random.default_rng(11)
    windows = [draw_window(rng) for _ in range(20000)]
    frames = np.array([w["frames"] for w in windows])
    starts = np.array([w["start_hour"] for w in windows])
    assert frames.min() == 3 and frames.max() == 33  # histories of up to 32 frames exist
    assert (starts + frames - 1 <= MAX_DURATION_HOURS).all()
    assert 0.3 < np.mean(starts == 0) < 0.4 and starts.max() > 30
    share = share_history_at_most(frames.tolist(), 6)
    assert 0.52 < share < 0.62, share
    # the drawn events follow the same law
    evs = [draw_wide_event(2, i, size=16)[0] for i in range(40)]
    assert all(e["duration_hours"] == e["window"]["start_hour"] + e["steps"] - 1 for e in evs)
    assert event_rng(2, 0).uniform() == event_rng(2, 0).uniform()


def test_wide_generation_settings_are_checked_at_once(tmp_path):
    from emberxr.errors import ConfigError
    from emberxr.simulate.generate import generate_collection

    with pytest.raises(ConfigError) as info:
        generate_collection(
            tmp_path / "x.zarr", n_events=0, seed=1, size=8, params_version=2, cell_size=0.0, real_share=2.0
        )
    msg = str(info.value)
    assert "n_events" in msg and "size" in msg and "cell_size" in msg and "real_share" in msg
    assert not (tmp_path / "x.zarr").exists()


def test_style_subset():
    p, _land = draw_wide_event(3, 1, size=32, styles=("timber",), real_share=0.0)
    assert p["landscape"]["style"] == "timber" and p["landscape"]["terrain"] == {"kind": "fractal"}
    assert p["crs"] == "EPSG:32611"
    with pytest.raises(ValueError, match="unknown landscape style"):
        draw_wide_event(3, 1, size=32, styles=("tundra",))
