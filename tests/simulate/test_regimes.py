"""Wide events from an arrival raster (no simulator): windows, hourly winds, regime attributes,
``regime_table``, and the splits that hold regimes out."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emberxr.simulate.build import build_event, burns_meaningfully
from emberxr.simulate.scenario import draw_event_params, draw_wide_event, make_scenario
from emberxr.simulate.stats import REGIME_KEYS, regime_table, regime_values
from emberxr.validate import validate


def _wide_event(index: int = 0, **over):
    p, land = draw_wide_event(4, index, size=32)
    for k, v in over.items():
        p[k] = v
    return p, land


def _radial_arrival(p, size=32, cells_per_hour=2.0):
    rows, cols = np.mgrid[0:size, 0:size]
    r0, c0 = p["ignitions"][0]
    return (np.hypot(rows - r0, cols - c0) / cells_per_hour).astype(np.float32)


def test_wide_event_window_wind_and_regime():
    p, land = _wide_event(window={"start_hour": 3, "frames": 6}, steps=6, duration_hours=8)
    p["start_time"] = str(np.datetime64(p["ignition_time"]) + np.timedelta64(3, "h"))
    toa = _radial_arrival(p)
    ev = build_event(p, land, {"time_of_arrival": toa, "simulator_version": "2026.8.10"})
    validate(ev)
    fire = ev["fire"].values
    assert fire.shape == (6, 32, 32)
    assert np.array_equal(fire[0], (toa <= 3.0).astype(np.uint8))  # frame 0 = 3 h after ignition
    assert np.array_equal(fire[-1], (toa <= 8.0).astype(np.uint8))
    arr = ev["arrival_time"].values
    assert np.nanmin(arr) == 0.0 and (arr[toa <= 3.0] == 0).all()  # burned before frame 0 -> 0
    assert np.isnan(arr[toa > 8.0]).all()
    assert str(ev["time"].values[0])[:13] == p["start_time"][:13]
    # the stored wind is each frame hour's mean of its quarter hours
    hourly = np.asarray(p["wind"]["hourly_mean_kmh"])[3:9] / 3.6
    assert np.allclose(np.hypot(ev["wind_u"].values, ev["wind_v"].values), hourly, atol=1e-4)
    a = ev.attrs
    assert all(k in a for k in REGIME_KEYS) and a["params_version"] == 2
    quarter = np.asarray(p["wind"]["speed_kmh"]).reshape(-1, 4)[3:8]  # hours driving 5 transitions
    assert a["regime_wind_kmh"] == pytest.approx(quarter.mean(), abs=1e-3)
    assert a["regime_gust_kmh"] == pytest.approx(quarter.max(), abs=1e-3)
    assert a["regime_dead_fm_pct"] == pytest.approx(100 * np.mean(p["moisture"]["dead_1hr"][3:8]), abs=1e-3)
    assert a["regime_frames"] == 6 and a["observation_start_hours"] == 3 and a["duration_hours"] == 8
    assert a["regime_style"] == p["landscape"]["style"] and a["regime_ignition"] == p["ignition"]["kind"]
    assert a["regime_burned_fraction"] == pytest.approx(fire[-1].mean(), abs=1e-5)
    added = (fire[-1].sum() - fire[0].sum()) * 0.09  # 30 m cells = 0.09 ha
    assert a["regime_spread_ha_per_h"] == pytest.approx(added / 5, rel=1e-4)
    assert json.loads(a["sim_params"]) == p
    assert burns_meaningfully(ev)


def test_regime_table_reads_attrs_and_derives_sim_small_regimes():
    p, land = _wide_event(1)
    wide = build_event(p, land, {"time_of_arrival": _radial_arrival(p), "simulator_version": "x"})
    q = draw_event_params(1, 0, size=32, steps=5)
    land1, _sc = make_scenario(q)
    toa = _radial_arrival(q, cells_per_hour=3.0)
    small = build_event(q, land1, {"time_of_arrival": toa, "simulator_version": "x"})
    table = regime_table([wide, small])
    assert list(table.index) == ["sim-00001", "sim-00000"] and list(table.columns) == list(REGIME_KEYS)
    assert table.loc["sim-00001", "regime_wind_kmh"] == wide.attrs["regime_wind_kmh"]
    row = table.loc["sim-00000"]
    assert row["regime_style"] == "mixed" and row["regime_ignition"] == "point"
    assert row["regime_terrain"] == "fractal" and row["regime_frames"] == 5
    assert row["regime_dead_fm_pct"] == pytest.approx(100 * q["moisture"]["dead_1hr"])
    assert row["regime_wind_kmh"] == pytest.approx(np.mean(q["wind"]["speed_kmh"][:4]), abs=1e-3)
    assert row["regime_burned_fraction"] == pytest.approx(small["fire"].values[-1].mean(), abs=1e-5)
    assert table["regime_frames"].dtype == "Int64" and table["regime_wind_kmh"].dtype == float


def test_regime_table_of_a_store_reads_metadata_only(tmp_path, events):
    from emberxr.simulate.store import write_events

    p, land = _wide_event(1)
    wide = build_event(p, land, {"time_of_arrival": _radial_arrival(p), "simulator_version": "x"})
    q = draw_event_params(1, 0, size=32, steps=5)
    land1, _sc = make_scenario(q)
    small = build_event(
        q, land1, {"time_of_arrival": _radial_arrival(q, cells_per_hour=3.0), "simulator_version": "x"}
    )
    other = events[0].assign_attrs(event_id="synthetic")
    write_events([wide, small, other], tmp_path / "s.zarr", mode="w")
    stored = regime_table(tmp_path / "s.zarr")
    pd.testing.assert_frame_equal(stored.loc[["sim-00001", "sim-00000"]], regime_table([wide, small]))
    assert stored.loc["synthetic"].isna().all()


def test_regime_table_of_events_without_simulator_metadata(events):
    table = regime_table(events[:2])
    assert len(table) == 2 and table["regime_wind_kmh"].isna().all()


def test_regime_values_count_burned_area():
    p, _land = _wide_event(2, window={"start_hour": 0, "frames": 3})
    fire = np.zeros((3, 10, 10), np.uint8)
    fire[0, 0, 0] = 1
    fire[1, :2, :2] = 1
    fire[2, :5, :4] = 1
    r = regime_values(p, fire, 30.0)
    assert r["regime_burned_fraction"] == 0.2 and r["regime_frames"] == 3
    assert r["regime_spread_ha_per_h"] == pytest.approx(19 * 0.09 / 2)


def _table(n=40):
    rng = np.random.default_rng(0)
    ids = [f"e{i:03d}" for i in range(n)]
    return pd.DataFrame(
        {
            "regime_wind_kmh": rng.uniform(0, 50, n),
            "regime_dead_fm_pct": rng.uniform(2, 15, n),
            "regime_terrain": rng.choice(["fractal", "real"], n, p=[0.8, 0.2]),
            "regime_style": rng.choice(["timber", "mixed", "wui"], n),
        },
        index=pd.Index(ids, name="event_id"),
    )


def test_shift_splits_hold_regimes_out():
    from emberxr.simulate.generate import assign_shift_splits

    t = _table()
    rules = {
        "test-windy": {"attr": "regime_wind_kmh", "top": 0.2},
        "test-dry": {"attr": "regime_dead_fm_pct", "bottom": 0.2},
        "test-real-terrain": {"attr": "regime_terrain", "equals": "real"},
        "test-timber": {"attr": "regime_style", "equals": "timber"},
    }
    s = assign_shift_splits(t, rules, seed=3)
    assert list(s) == ["train", "val", "test", "test-windy", "test-dry", "test-real-terrain", "test-timber"]
    every = [e for ids in s.values() for e in ids]
    assert sorted(every) == sorted(t.index) and len(every) == len(set(every))  # a partition
    assert s["test-windy"] == sorted(t["regime_wind_kmh"].nlargest(8).index)  # the windiest fifth
    threshold = t["regime_dead_fm_pct"].nsmallest(8).max()
    assert all(t.loc[e, "regime_dead_fm_pct"] <= threshold for e in s["test-dry"])
    seen = set(s["train"]) | set(s["val"]) | set(s["test"])
    assert all(t.loc[e, "regime_terrain"] == "fractal" and t.loc[e, "regime_style"] != "timber" for e in seen)
    windiest_train = max(t.loc[e, "regime_wind_kmh"] for e in s["train"])
    assert windiest_train < min(t.loc[e, "regime_wind_kmh"] for e in s["test-windy"])
    assert s == assign_shift_splits(t.iloc[::-1], rules, seed=3)  # order of the table does not matter


def test_shift_split_rules_are_checked():
    from emberxr.errors import CatalogError
    from emberxr.simulate.generate import assign_shift_splits

    with pytest.raises(CatalogError, match="names attribute 'regime_gusts'"):
        assign_shift_splits(_table(), {"x": {"attr": "regime_gusts", "top": 0.2}}, seed=1)
    with pytest.raises(CatalogError, match="exactly one of top/bottom"):
        assign_shift_splits(_table(), {"x": {"attr": "regime_wind_kmh"}}, seed=1)
    with pytest.raises(CatalogError, match="between 0 and 1"):
        assign_shift_splits(_table(), {"x": {"attr": "regime_wind_kmh", "top": 20}}, seed=1)
