"""CLI: `emberxr predict` with the forecast products and `emberxr evaluate --calibration/--perimeters`."""

from __future__ import annotations

import pyogrio
import pytest
import rasterio

import emberxr
from emberxr.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import torch

    from emberxr.io.events import save_event, save_events
    from emberxr.testing import synthetic_events, tiny_fit

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("products")
    evs = synthetic_events(4)
    tiny_fit(root / "run", epochs=2, events=4)
    store = save_events(evs, root / "events.zarr")
    one = save_event(evs[0], root / "one.zarr")
    wind = root / "wind.csv"
    wind.write_text("time,speed,direction\n2026-07-01T15:00,6,200\n2026-07-01T18:00,9,220\n")
    return root / "run" / "model.pt", store, one, wind


def test_predict_writes_every_product(trained, tmp_path, capsys):
    ckpt, _, one, wind = trained
    out = tmp_path / "out"
    rc = main(
        [
            "predict",
            str(ckpt),
            str(one),
            "-o",
            str(out / "burn.tif"),
            "--t",
            "3",
            "--horizon",
            "3",
            "--members",
            "4",
            "--seed",
            "2",
            "--wind",
            str(wind),
            "--wind-spread",
            "5,15",
            "--mask",
            str(out / "mask.tif"),
            "--arrival",
            str(out / "arrival.tif"),
            "--arrival-std",
            str(out / "spread.tif"),
            "--perimeters",
            str(out / "fire.gpkg"),
            "--levels",
            "0.25,0.75",
            "--quicklook",
            str(out / "map.png"),
        ]
    )
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "ensemble of 4 (bernoulli, seed 2)" in printed and "wind: file wind.csv" in printed
    names = sorted(p.name for p in out.iterdir())
    rasters = ("burn", "mask", "arrival", "spread")
    assert names == sorted(
        [f"{r}.{ext}" for r in rasters for ext in ("tif", "qml")] + ["fire.gpkg", "map.png"]
    )
    with rasterio.open(out / "burn.tif") as src:
        tags = src.tags()
        assert src.count == 3 and src.descriptions == ("t+1h", "t+2h", "t+3h")
    assert tags["members"] == "4" and tags["wind_source"].startswith("file wind.csv")
    assert "6.00 m/s from 200 deg" in tags["wind_future"] and tags["wind_spread_kmh"] == "5.0"
    assert pyogrio.read_info(out / "fire.gpkg", layer="perimeters")["features"] == 3 * 2
    assert "DISCRETE" in (out / "arrival.qml").read_text()


def test_predict_no_style_and_named_errors(trained, tmp_path, capsys):
    ckpt, _, one, _ = trained
    rc = main(["predict", str(ckpt), str(one), "-o", str(tmp_path / "p.tif"), "--no-style"])
    assert rc == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["p.tif"]
    bad = tmp_path / "bad.csv"
    bad.write_text("time,speed\n2026-07-01T15:00,3\n")
    rc = main(
        ["predict", str(ckpt), str(one), "-o", str(tmp_path / "q.tif"), "--horizon", "2", "--wind", str(bad)]
    )
    err = capsys.readouterr().err
    assert rc == 1 and "wind file is not usable" in err and "lacks column(s) direction" in err
    assert not (tmp_path / "q.tif").exists()
    rc = main(
        [
            "predict",
            str(ckpt),
            str(one),
            "-o",
            str(tmp_path / "r.tif"),
            "--perimeters",
            str(tmp_path / "x.shp"),
        ]
    )
    assert rc == 1 and ".gpkg" in capsys.readouterr().err
    rc = main(
        [
            "predict",
            str(ckpt),
            str(one),
            "-o",
            str(tmp_path / "r.tif"),
            "--arrival-std",
            str(tmp_path / "s.tif"),
        ]
    )
    assert rc == 1 and "--members" in capsys.readouterr().err


def test_evaluate_calibration_perimeters_and_calibrate(trained, tmp_path, capsys):
    ckpt, store, _, _ = trained
    rc = main(
        [
            "evaluate",
            str(ckpt),
            str(store),
            "--split",
            "val",
            "--no-per-event",
            "--calibration",
            str(tmp_path / "cal"),
            "--ece-binning",
            "mass",
            "--perimeters",
            "--horizon",
            "2",
        ]
    )
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert " ece " in printed.splitlines()[0] and "perimeter scores" in printed
    assert "step 2" in printed and "mean_distance_m" in printed
    assert (tmp_path / "cal" / "reliability.png").exists() and (
        tmp_path / "cal" / "calibration_bins.csv"
    ).exists()
    rc = main(
        [
            "evaluate",
            str(ckpt),
            str(store),
            "--split",
            "val",
            "--calibrate",
            "isotonic",
            "--save",
            str(tmp_path / "c.pt"),
        ]
    )
    printed = capsys.readouterr().out
    assert rc == 0 and "calibration isotonic fitted on" in printed and "threshold re-chosen" in printed
    assert emberxr.load(tmp_path / "c.pt").calibration["method"] == "isotonic"


@pytest.mark.parametrize("flag", ["--members", "--wind", "--perimeters", "--quicklook", "--no-style"])
def test_predict_help_lists_the_product_flags(flag, capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert flag in capsys.readouterr().out
