"""End to end: fit a small model for real, evaluate, predict (1 and 3 steps), GeoTIFF, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import emberxr
from emberxr.errors import CheckpointError, ConfigError

FAST = dict(
    max_history=4,
    patch_size=8,
    batch_size=4,
    wandb__enabled=False,
    progress=False,
    lr_temporal=3e-3,
    early_stopping=None,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import synthetic_event

    torch.set_num_threads(1)
    dirs = [270.0, 180.0, 90.0, 0.0, 225.0, 315.0]
    events = [synthetic_event(seed=i, event_id=f"synthetic-{i}", wind_from_deg=d) for i, d in enumerate(dirs)]
    run = tmp_path_factory.mktemp("fit")
    fitted = emberxr.fit(events, model="unets", epochs=4, run_dir=run, **FAST)
    return fitted, events, run


def test_fit_trains_for_real_and_loss_decreases(trained):
    fitted, _, run = trained
    losses = [h["train/loss_epoch"] for h in fitted.history]
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0]
    assert fitted.steps > 0 and 0.0 < fitted.threshold < 1.0
    assert (run / "model.pt").exists() and (run / "best.pt").exists() and (run / "last.pt").exists()


def test_predict_is_georeferenced_on_the_input_grid(trained, event):
    fitted, _, _ = trained
    da = fitted.predict(event, t=4)
    assert da.dims == ("y", "x")
    np.testing.assert_array_equal(da["x"].values, event["x"].values)
    np.testing.assert_array_equal(da["y"].values, event["y"].values)
    assert da.rio.crs == event.rio.crs and "spatial_ref" in da.coords
    assert da.rio.transform() == event.rio.transform()
    p = da.values
    assert np.nanmin(p) >= 0 and np.nanmax(p) <= 1
    mask = da["fire_mask"].values
    assert set(np.unique(mask)) <= {0, 1}
    np.testing.assert_array_equal(
        mask, ((p >= fitted.threshold) | (event.fire.values[4] > 0)).astype(np.uint8)
    )


def test_horizon_cube_arrival_time_and_geotiff(trained, event, tmp_path):
    import rasterio

    from emberxr.forecast import write_forecast

    fitted, _, _ = trained
    ds = fitted.forecast(event, t=3, horizon=3)
    assert ds["probability"].dims == ("step", "y", "x") and ds.sizes["step"] == 3
    prob = ds["probability"].values
    assert np.all(prob[1] >= prob[0] - 1e-6) and np.all(prob[2] >= prob[1] - 1e-6)
    arr = ds["arrival_time"].values
    burning = event.fire.values[3] > 0
    assert np.all(arr[burning] == 0)
    assert set(np.unique(arr[np.isfinite(arr)])) <= {0.0, 1.0, 2.0, 3.0}
    out = tmp_path / "f.tif"
    write_forecast(ds, str(out))
    with rasterio.open(out) as src:
        assert src.count == 3 and src.crs.to_epsg() == 32611
        assert list(src.descriptions) == ["t+1h", "t+2h", "t+3h"]
        assert src.transform == event.rio.transform()
    da = fitted.predict(event, t=3, horizon=3)
    assert da.dims == ("step", "y", "x") and "arrival_time" in da.coords
    da.rio.to_raster(tmp_path / "direct.tif")  # rioxarray itself can write it


def test_evaluate_table_and_files(trained, tmp_path):
    fitted, events, _ = trained
    df = fitted.evaluate(events[:2], output=tmp_path / "m.md")
    assert {"next", "new"} == set(df["target"]) and {"all", "history", "event"} == set(df["scope"])
    row = df[(df.scope == "all") & (df.target == "next")].iloc[0]
    assert 0.5 < row["ap"] <= 1.0 and row["n_samples"] == 14
    assert "| model" in (tmp_path / "m.md").read_text()
    fitted.evaluate(events[:1], output=tmp_path / "m.csv", per_event=False)
    assert "event" not in (tmp_path / "m.csv").read_text().split("\n", 2)[1]


def test_save_load_round_trip_is_weights_only_and_identical(trained, event, tmp_path):
    fitted, _, _ = trained
    path = fitted.save(tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["model_name"] == "unets" and raw["band_names"] == ["elevation", "slope", "fuel_model", "water"]
    assert raw["emberxr_version"] == emberxr.__version__ and isinstance(raw["norm_stats"], dict)
    again = emberxr.load(path)
    assert again.threshold == pytest.approx(fitted.threshold)
    np.testing.assert_allclose(
        again.predict(event).values, fitted.predict(event).values, rtol=1e-5, equal_nan=True
    )


def test_data_with_other_bands_fails_clearly(trained, event):
    fitted, _, _ = trained
    other = event.isel(band=[0, 1, 2])
    with pytest.raises(CheckpointError, match="missing band\\(s\\) water"):
        fitted.predict(other)
    renamed = event.assign_coords(band=["elev", "slope", "fuel_model", "water"])
    with pytest.raises(CheckpointError, match="elevation"):
        fitted.evaluate([renamed])


def test_resume_with_another_model_or_shape_fails_clearly(trained, tmp_path):
    import shutil

    _, events, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    with pytest.raises(CheckpointError, match="not 'conv2d'"):
        emberxr.fit(events, model="conv2d", epochs=5, run_dir=copy, resume=True, **FAST)
    with pytest.raises(CheckpointError, match="same config and overrides"):
        emberxr.fit(
            events,
            model="unets",
            epochs=5,
            run_dir=copy,
            resume=True,
            widths=[8, 16, 32],
            **FAST,
        )


def test_fit_rejects_unknown_keywords(event):
    with pytest.raises(ConfigError, match="epochs"):
        emberxr.fit([event], model="copylast", epoch=3)


def test_copylast_runs_zero_steps(event, tmp_path):
    f = emberxr.fit([event], model="copylast", run_dir=tmp_path, wandb__enabled=False, progress=False)
    assert f.steps == 0 and f.epoch == 0
    prob = f.predict(event, t=2).values
    np.testing.assert_array_equal(prob > 0.5, event.fire.values[2] > 0)


def test_sliding_window_stitching_is_exact_for_a_pixelwise_model(make_synthetic_event, tmp_path):
    ev = make_synthetic_event(height=40, width=56, steps=6, invalid_border=5)
    f = emberxr.fit(
        [ev],
        model="copylast",
        run_dir=tmp_path,
        wandb__enabled=False,
        progress=False,
        tile_size=32,
        patch_size=8,
    )
    ds = f.forecast(ev, t=3)
    prob = ds["probability"].values[0]
    valid = ev.valid.values
    assert np.isnan(prob[~valid]).all() and np.isfinite(prob[valid]).all()  # nodata outside the footprint
    np.testing.assert_array_equal(prob[valid] > 0.5, ev.fire.values[3][valid] > 0)
