"""CLI: fit / evaluate / predict / demo, each with --help, and a real fit → evaluate → predict run."""

from __future__ import annotations

import pytest

from emberxr.cli import main


@pytest.mark.parametrize("cmd", ["fit", "evaluate", "predict", "demo"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([cmd, "--help"])
    assert exc.value.code == 0
    assert f"usage: emberxr {cmd}" in capsys.readouterr().out


def test_fit_evaluate_predict(tmp_path, capsys):
    import rasterio

    from emberxr.io.events import save_event, save_events
    from emberxr.testing import synthetic_events

    evs = synthetic_events(4)
    store = save_events(evs, tmp_path / "events.zarr")
    one = save_event(evs[0], tmp_path / "one.zarr")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        "model: {name: conv2d}\ndata: {patch_size: 8, max_history: 3}\ntraining: {progress: false}\n"
    )
    run = tmp_path / "run"
    rc = main(
        [
            "fit",
            str(cfg),
            "training.epochs=2",
            "training.steps_per_epoch=2",
            "training.batch_size=2",
            "model.hidden=8",
            "model.layers=1",
            "--data",
            str(store),
            "--run-dir",
            str(run),
            "--no-wandb",
        ]
    )
    assert rc == 0 and (run / "model.pt").exists()
    assert "conv2d: epoch" in capsys.readouterr().out

    rc = main(
        ["evaluate", str(run / "model.pt"), str(store), "--split", "val", "-o", str(tmp_path / "t.csv")]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "| model" in out and "new" in out
    assert (tmp_path / "t.csv").read_text().startswith("model,target,scope,group")

    # best.pt was saved before fit chose a threshold: evaluate says how to get one, and gets it
    import emberxr

    assert main(["evaluate", str(run / "best.pt"), str(store), "--split", "val"]) == 1
    assert "--choose-threshold val --save model.pt" in capsys.readouterr().err
    chosen = tmp_path / "chosen.pt"
    args = ["evaluate", str(run / "best.pt"), str(store), "--split", "val", "--choose-threshold", "val"]
    assert main([*args, "--save", str(chosen)]) == 0
    assert "chosen on split 'val'" in capsys.readouterr().out
    assert emberxr.load(chosen).threshold == emberxr.load(run / "model.pt").threshold
    args = ["predict", str(run / "best.pt"), str(one), "-o", str(tmp_path / "p.tif"), "--mask", "m.tif"]
    assert main(args) == 1
    assert "--mask / --arrival needs a probability threshold" in capsys.readouterr().err

    tif = tmp_path / "forecast.tif"
    rc = main(
        [
            "predict",
            str(run / "model.pt"),
            str(one),
            "-o",
            str(tif),
            "--horizon",
            "2",
            "--arrival",
            str(tmp_path / "a.tif"),
        ]
    )
    assert rc == 0
    with rasterio.open(tif) as src:
        assert src.count == 2 and src.crs.to_epsg() == 32611 and list(src.descriptions) == ["t+1h", "t+2h"]
    with rasterio.open(tmp_path / "a.tif") as src:
        assert src.count == 1

    # one event of a multi-event collection, picked by id
    tif_id = tmp_path / "forecast_id.tif"
    assert (
        main(
            [
                "predict",
                str(run / "model.pt"),
                str(store),
                "--event-id",
                evs[1].attrs["event_id"],
                "-o",
                str(tif_id),
            ]
        )
        == 0
    )
    with rasterio.open(tif_id) as src:
        assert src.count == 1 and list(src.descriptions) == ["t+1h"]

    # a GIS analyst's raw folder (terrain GeoTIFF + fire PNGs + wind CSV) forecasts on the same grid
    from emberxr.readers.raw_reader import write_raw_event

    raw = write_raw_event(evs[0], tmp_path / "raw_event")
    tif_raw = tmp_path / "forecast_raw.tif"
    rc = main(["predict", str(run / "model.pt"), str(raw), "-o", str(tif_raw), "--horizon", "1", "--cog"])
    assert rc == 0
    with rasterio.open(tif_raw) as src, rasterio.open(tif) as ref:
        assert src.crs == ref.crs and src.transform == ref.transform
        assert list(src.descriptions) == ["t+1h"]
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_bad_override_is_a_clean_error(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: conv2d}\n")
    assert main(["fit", str(cfg), "training.epoks=2"]) == 1
    err = capsys.readouterr().err
    assert "unknown key 'training.epoks'" in err and "training.epochs" in err


def test_overrides_may_follow_flags(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: conv2d}\n")
    # the override after a flag reaches the config validator (not argparse's "unrecognized")
    assert main(["fit", str(cfg), "--no-wandb", "training.epoks=2"]) == 1
    assert "unknown key 'training.epoks'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(cfg), "--no-such-flag"])
    assert exc.value.code == 2
