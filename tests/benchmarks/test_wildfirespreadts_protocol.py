"""The WildfireSpreadTS protocol: folds, feature sets, the fixed test set, per-fold statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest

import emberxr
from emberxr.benchmarks import wildfirespreadts as W
from emberxr.errors import ConfigError

from .conftest import TINY


def test_the_twelve_published_folds():
    folds = [W.get_fold(i) for i in range(12)]
    assert len({(f.train, f.val, f.test) for f in folds}) == 12
    for f in folds:
        assert sorted([*f.train, f.val, f.test]) == [2018, 2019, 2020, 2021]
    assert [sum(f.test == y for f in folds) for y in W.YEARS] == [3, 3, 3, 3]
    assert (folds[0].train, folds[0].val, folds[0].test) == ((2018, 2019), 2020, 2021)
    assert (folds[11].train, folds[11].val, folds[11].test) == ((2020, 2021), 2019, 2018)
    with pytest.raises(ConfigError, match=r"use folds 0\.\.11"):
        W.get_fold(12)


def test_fold_splits_use_the_fold_years(wsts4_events):
    s = W.fold_splits(wsts4_events, W.get_fold(3), days=5)
    years = {k: sorted({ev.attrs["year"] for ev in v}) for k, v in s.items()}
    assert years == {"train": [2018, 2020], "val": [2021], "test": [2019]}


def test_feature_sets_select_bands_by_name(wsts4_events):
    ev = wsts4_events[2018][0]
    veg = W.select_features(ev, "veg")
    assert veg.sizes["band"] == 0
    assert list(veg.dband.values) == ["M11", "I2", "I1", "NDVI", "EVI2", "active_fire_hour"]
    assert float(abs(veg.wind_u).max()) == 0.0 and float(abs(ev.wind_u).max()) > 0
    multi = W.select_features(ev, "multi")
    names = set(multi.dband.values.tolist())
    assert {"wind_direction_sin", "min_temperature", "specific_humidity", "NDVI"} <= names
    assert not names & {"energy_release_component", "pdsi", "forecast_wind_speed", "forecast_temperature"}
    assert list(multi.band.values) == ["slope", "aspect_sin", "aspect_cos", "elevation", "landcover"]
    full = W.select_features(ev, "all")
    assert full.sizes["dband"] == ev.sizes["dband"] == 21 and full.attrs["features"] == "all"
    assert "features" not in ev.attrs  # the opened event is left as it was
    with pytest.raises(ConfigError, match="did you mean 'multi'"):
        W.select_features(ev, "mult")
    with pytest.raises(ConfigError, match="missing"):
        W.select_features(ev.drop_vars("dynamic"), "veg")


def _targets(events, days):
    """(fire id, date of the target) of every evaluation sample with ``days`` input days."""
    from emberxr.data.datasets import FireSampleDataset

    ds = FireSampleDataset(events, None, max_history=days, min_history=days, patch_size=8)
    out = set()
    for i in range(len(ds)):
        info = ds.sample_info(i)
        assert info["hist_len"] == days
        ev = events[info["event_idx"]]
        out.add((ev.attrs["event_id"], str(ev.time.values[info["t"] + 1])[:10]))
    return out


def test_the_test_samples_are_the_same_for_every_number_of_days(wsts4_events):
    fold = W.get_fold(0)
    sets = {d: _targets(W.fold_splits(wsts4_events, fold, days=d)["test"], d) for d in range(1, 6)}
    assert len(sets[5]) == 2  # 7 days: targets of day 6 and 7 (t >= 4)
    assert all(sets[d] == sets[5] for d in range(1, 5))
    # training keeps every sample with `days` inputs: more of them with fewer days
    train = [W.fold_splits(wsts4_events, fold, days=d)["train"] for d in (1, 5)]
    assert len(_targets(train[0], 1)) == 12 and len(_targets(train[1], 5)) == 4
    with pytest.raises(ConfigError, match="days=6"):
        W.fixed_test_events(train[0], 6)


def test_test_crop_options(wsts4_events):
    ev = wsts4_events[2021][0]
    assert W._centre_crop(ev, None).sizes["y"] == 16
    assert W._centre_crop(ev, 8).sizes["x"] == 8
    assert W._centre_crop(ev, "x32").sizes["y"] == 16  # smaller than 32: kept whole


def test_a_fold_trains_with_statistics_of_its_training_years_only(wsts4_events, tmp_path):
    from emberxr.normalize import compute_stats

    res = W.run(
        None,
        "conv2d",
        days=2,
        features="multi",
        folds=[0],
        steps=2,
        epochs=1,
        output_dir=tmp_path,
        progress=False,
        overrides=TINY,
        events_by_year=wsts4_events,
    )
    (fold,) = res.folds
    split = W.fold_splits(wsts4_events, W.get_fold(0), days=2, features="multi")
    want = compute_stats(split["train"]).to_dict()
    other = compute_stats(split["train"] + split["test"]).to_dict()
    assert fold.stats["mean"] == pytest.approx(want["mean"]) and fold.stats["wind_scale"] == pytest.approx(
        want["wind_scale"]
    )
    assert fold.stats["mean"] != pytest.approx(other["mean"])
    assert 0.0 <= fold.ap <= 1.0 and fold.n_samples == 2 and fold.n_pixels == 2 * 16 * 16
    assert np.isnan(res.std) and "0.478 ± 0.085" in res.render()
    cfg = emberxr.load(tmp_path / "conv2d-2d-multi" / "fold0" / "model.pt").config
    assert cfg["data"]["min_history"] == cfg["data"]["max_history"] == 2


def test_the_veg_set_trains_without_static_bands(wsts4_events, tmp_path):
    res = W.run(
        None,
        "conv2d",
        days=1,
        features="veg",
        folds=[5],
        steps=1,
        epochs=1,
        output_dir=tmp_path,
        progress=False,
        overrides=TINY,
        events_by_year=wsts4_events,
    )
    assert res.folds[0].stats["band_names"] == [] and res.folds[0].fold.test == 2019


def test_the_benchmark_command_prints_ap_per_fold_and_the_published_numbers(wsts4, tmp_path, capsys):
    from emberxr.cli import main

    out = tmp_path / "wsts.json"
    code = main(
        [
            "benchmark",
            "wildfirespreadts",
            "--root",
            str(wsts4),
            "--model",
            "conv2d",
            "--days",
            "3",
            "--folds",
            "0",
            "7",
            "--steps",
            "2",
            "--epochs",
            "1",
            "--output-dir",
            str(tmp_path / "runs"),
            "--no-progress",
            "-o",
            str(out),
            *[f"{k}={'null' if v is None else v}" for k, v in TINY.items()],
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "test AP over 2 fold(s)" in text and "U-TAE + ResNet-18 encoder" in text and "≈ 0.19" in text
    data = json.loads(out.read_text())
    assert [f["fold"] for f in data["folds"]] == [0, 7] and data["days"] == 3
    assert data["mean_ap"] == pytest.approx(np.mean([f["test_ap"] for f in data["folds"]]))
    assert (
        main(["benchmark", "wildfirespreadts", "--root", str(tmp_path / "nothing"), "--model", "conv2d"]) == 1
    )
