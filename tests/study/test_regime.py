"""Evaluation by regime bin: the bins, the pooled rows, ``emberxr evaluate --by regime``."""

from __future__ import annotations

import pytest

from emberxr.errors import ConfigError
from emberxr.testing import synthetic_events
from emberxr.train.evaluate import regime_bins


def _ids(events, idx):
    return [events[i].attrs["event_id"] for i in idx]


def test_bins_of_wind_style_terrain_ignition(regime_events):
    bins = regime_bins(regime_events)
    ev = regime_events
    assert bins["wind_kmh=0-10"] == _ids(ev, [0, 4, 8])
    assert bins["wind_kmh=10-20"] == _ids(ev, [1, 2, 3, 5, 6, 9])
    assert bins["wind_kmh=40+"] == _ids(ev, [7])
    assert "wind_kmh=20-30" not in bins  # empty bins are not rows
    assert bins["style=timber"] == _ids(ev, [2, 4, 6, 8])
    assert bins["style=rangeland"] == _ids(ev, [9])
    assert bins["terrain=real"] == _ids(ev, [9]) and len(bins["terrain=fractal"]) == 9
    assert bins["ignition=point"] == _ids(ev, range(10))
    # every attribute's bins cover its events once
    for attr in ("wind_kmh", "dead_fm_pct", "style", "terrain"):
        members = [e for k, v in bins.items() if k.startswith(attr + "=") for e in v]
        assert sorted(members) == sorted(_ids(ev, range(10)))
    # order: the attributes of REGIME_BINS, then the bins
    assert [k.split("=")[0] for k in bins] == sorted(
        [k.split("=")[0] for k in bins],
        key=["wind_kmh", "dead_fm_pct", "style", "terrain", "ignition"].index,
    )


def test_dead_moisture_quartiles():
    events = synthetic_events(5)
    for ev, dead in zip(events, (2.0, 4.0, 6.0, 8.0, 8.0)):
        ev.attrs["regime_dead_fm_pct"] = dead
    bins = regime_bins(events)
    # quartiles of (2, 4, 6, 8, 8): 4, 6, 8 -> Q1 <= 4 < Q2 <= 6 < Q3 <= 8 (the two 8s)
    assert bins == {
        "dead_fm_pct=Q1 2-4": _ids(events, [0, 1]),
        "dead_fm_pct=Q2 6": _ids(events, [2]),
        "dead_fm_pct=Q3 8": _ids(events, [3, 4]),
    }


def test_events_without_regime_attributes_are_not_binned(regime_events):
    plain = synthetic_events(3)
    assert regime_bins(plain) == {}
    mixed = [*regime_events[:2], plain[2]]
    mixed[1].attrs["regime_wind_kmh"] = float("nan")  # a missing value is not binned either
    bins = regime_bins(mixed)
    assert bins["wind_kmh=0-10"] == [mixed[0].attrs["event_id"]]
    assert all(plain[2].attrs["event_id"] not in v for v in bins.values())


def test_binned_events_need_distinct_ids(regime_events):
    regime_events[1].attrs["event_id"] = regime_events[0].attrs["event_id"]
    with pytest.raises(ConfigError, match="share the event id"):
        regime_bins(regime_events)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from emberxr.testing import tiny_fit

    return tiny_fit(tmp_path_factory.mktemp("run"), epochs=1)


def test_regime_rows_pool_exactly_the_events_of_each_bin(fitted, regime_events):
    table = fitted.evaluate(regime_events, per_event=False, by="regime")
    assert "event" not in set(table["scope"])
    regime = table[table["scope"] == "regime"]
    assert set(regime["group"]) == set(regime_bins(regime_events))
    # the timber bin is exactly the evaluation of the timber events alone
    timber = [regime_events[i] for i in (2, 4, 6, 8)]
    alone = fitted.evaluate(timber, per_event=False)
    cols = ["precision", "recall", "f1", "iou", "ap", "n_samples", "n_pixels", "n_positive"]
    for target in ("next", "new"):
        got = regime[(regime["group"] == "style=timber") & (regime["target"] == target)][cols]
        want = alone[(alone["scope"] == "all") & (alone["target"] == target)][cols]
        assert got.to_numpy().ravel().tolist() == pytest.approx(want.to_numpy().ravel().tolist())
    # rows come after the history buckets, before nothing else
    scopes = table[table["target"] == "next"]["scope"].tolist()
    assert scopes == sorted(scopes, key=["all", "history", "regime"].index)


def test_evaluate_by_regime_keeps_per_event_rows_when_asked(fitted, regime_events):
    table = fitted.evaluate(regime_events[:3], by="regime")
    assert {"all", "history", "regime", "event"} <= set(table["scope"])
    assert fitted.evaluate(regime_events[:3], by=None)["scope"].ne("regime").all()


def test_unknown_grouping_is_refused(fitted, regime_events):
    with pytest.raises(ConfigError, match="by='wind' is not a grouping"):
        fitted.evaluate(regime_events[:2], by="wind")


def test_cli_evaluate_by_regime(fitted, regime_events, tmp_path, capsys):
    import emberxr
    from emberxr.cli import main

    emberxr.save_events(regime_events, tmp_path / "ev.zarr")
    fitted.save(tmp_path / "m.pt")
    assert main(["evaluate", str(tmp_path / "m.pt"), str(tmp_path / "ev.zarr"), "--by", "regime"]) == 0
    out = capsys.readouterr().out
    assert "regime" in out and "style=timber" in out and "wind_kmh=40+" in out
    assert main(["evaluate", str(tmp_path / "m.pt"), str(tmp_path / "ev.zarr")]) == 0
    assert "style=timber" not in capsys.readouterr().out
