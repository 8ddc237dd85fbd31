"""Event parameters (seeded, JSON, replayable) and the event builder; no simulator needed."""

from __future__ import annotations

import json

import numpy as np

from emberxr.simulate.build import build_event, burns_meaningfully, fire_frames
from emberxr.simulate.landscape import build_landscape
from emberxr.simulate.scenario import draw_event_params, make_scenario
from emberxr.simulate.stats import dataset_stats, history_histogram
from emberxr.validate import validate


def test_params_are_seeded_json_and_complete():
    a = draw_event_params(3, 5, size=48, steps=6)
    assert a == draw_event_params(3, 5, size=48, steps=6)
    assert a != draw_event_params(3, 6, size=48, steps=6)
    assert json.loads(json.dumps(a)) == a
    assert len(a["wind"]["speed_kmh"]) == len(a["wind"]["direction_from_deg"]) == 6
    assert a["moisture"]["scenario"] in ("dry", "moderate", "moist")
    land = build_landscape(a["landscape"])
    assert all(land.burnable[r, c] for r, c in a["ignitions"])
    assert 1 <= len(a["ignitions"]) <= 3


def test_weather_shares_over_many_events():
    ps = [draw_event_params(11, i, size=32, steps=12) for i in range(60)]
    shifted = np.mean([len(p["wind"]["shifts"]) > 0 for p in ps])
    assert 0.4 < shifted < 0.8
    assert {p["moisture"]["scenario"] for p in ps} == {"dry", "moderate", "moist"}
    assert sum(len(p["ignitions"]) > 1 for p in ps) > 5


def test_build_event_from_an_arrival_raster():
    p = draw_event_params(1, 0, size=32, steps=5)
    land, sc = make_scenario(p)
    assert sc.meta["duration_hours"] == 4 and sc.arrays["slope"].shape == (32, 32)
    rows, cols = np.mgrid[0:32, 0:32]
    r0, c0 = p["ignitions"][0]
    toa = np.hypot(rows - r0, cols - c0).astype(np.float32) / 3.0  # 3 cells per hour
    toa[toa > 4.5] = np.nan
    ev = build_event(p, land, {"time_of_arrival": toa, "simulator_version": "2026.8.10"})
    validate(ev)
    assert ev.rio.crs.to_epsg() == 32611
    assert (np.diff(ev["y"].values) < 0).all() and (np.diff(ev["x"].values) > 0).all()  # north-up
    fire = ev["fire"].values
    assert fire[0, r0, c0] == 1 and (np.diff(fire.astype(int), axis=0) >= 0).all()  # cumulative
    assert np.isnan(ev["arrival_time"].values[toa != toa]).all()
    assert json.loads(ev.attrs["sim_params"]) == p
    assert list(ev["band"].values)[3] == "fuel_model" and ev["band_kind"].values[3] == "categorical"
    assert burns_meaningfully(ev)


def test_fire_frames_and_selection(make_synthetic_event):
    toa = np.array([[0.0, 0.5, np.nan], [1.0, 2.2, 3.0]], np.float32)
    frames = fire_frames(toa, 3)
    assert frames.tolist() == [[[1, 0, 0], [0, 0, 0]], [[1, 1, 0], [1, 0, 0]], [[1, 1, 0], [1, 0, 0]]]
    ev = make_synthetic_event(steps=6)
    still = ev.copy()
    still["fire"] = ev["fire"].isel(time=[0] * 6).assign_coords(time=ev["time"])
    assert burns_meaningfully(ev) and not burns_meaningfully(still)


def test_history_histogram_and_stats(events):
    assert history_histogram([12]) == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 4}
    st = dataset_stats(events)
    assert st["n_events"] == 6 and st["n_samples"] == 6 * 7
    assert abs(st["share_history_le_6"] - 6 / 7) < 1e-9
    assert np.all(np.diff(st["burned_fraction_per_step"]) >= 0)
    assert 0.0 <= st["edge_touch_share"] <= 1.0


def test_generation_settings_are_checked_all_at_once(tmp_path):
    import pytest

    from emberxr.errors import ConfigError
    from emberxr.simulate.generate import assign_splits, generate_collection

    with pytest.raises(ConfigError) as info:
        generate_collection(tmp_path / "x.zarr", n_events=0, seed=1, size=8, steps=1, dem="moon", workers=0)
    assert "5 problem(s)" in str(info.value) and not (tmp_path / "x.zarr").exists()
    splits = assign_splits([f"e{i}" for i in range(20)], seed=3)
    assert [len(v) for v in splits.values()] == [14, 3, 3]
    assert splits == assign_splits([f"e{i}" for i in range(20)][::-1], seed=3)


def test_real_dem_events_sit_where_the_dem_is():
    p = draw_event_params(2, 0, size=48, steps=4, dem="jacksboro")
    assert p["crs"] == "EPSG:32616" and p["landscape"]["dem"] == "jacksboro"
    # the Jacksboro DEM spans 84.41-84.08° W, 36.45-36.73° N: UTM 16N eastings ~0.73-0.77 Mm
    assert 720_000 < p["x0"] < 780_000 and 4_030_000 < p["y0"] < 4_075_000
    assert p["x0"] % 30 == 0 and p["y0"] % 30 == 0


def test_regenerate_needs_sim_params(event):
    import pytest

    from emberxr.errors import ReaderError
    from emberxr.simulate.run import regenerate

    with pytest.raises(ReaderError, match="no 'sim_params' attribute"):
        regenerate(event)
