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
    from emberxr.testing import synthetic_events

    torch.set_num_threads(1)
    events = synthetic_events(6)
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


def test_best_pt_has_no_threshold_until_one_is_chosen(trained, event, tmp_path):
    from emberxr.errors import ThresholdNotSetError
    from emberxr.forecast import write_forecast

    fitted, events, run = trained
    best = emberxr.load(run / "best.pt")
    assert best.threshold is None and "threshold=None" in repr(best)
    prob = best.predict(event, t=4)  # a probability needs no threshold
    np.testing.assert_allclose(prob.values, fitted.predict(event, t=4).values, rtol=1e-5, equal_nan=True)
    assert "fire_mask" not in prob.coords and "arrival_time" not in prob.coords
    with pytest.raises(ThresholdNotSetError, match=r"2-step forecast.*choose_threshold"):
        best.predict(event, t=3, horizon=2)
    with pytest.raises(ThresholdNotSetError, match=r"evaluation table.*--choose-threshold val"):
        best.evaluate(events[:1])
    with pytest.raises(ThresholdNotSetError, match="fire_mask GeoTIFF"):
        write_forecast(best.forecast(event, t=4), str(tmp_path / "m.tif"), variable="fire_mask")
    # the same computation as fit's: on the data fit validated on, the same threshold
    assert best.choose_threshold(events, split="val") == fitted.threshold
    assert best.metrics["val/best_f1"] == pytest.approx(fitted.metrics["val/best_f1"])
    again = emberxr.load(best.save(tmp_path / "chosen.pt"))
    assert again.threshold == fitted.threshold
    assert best.predict(event, t=3, horizon=2).dims == ("step", "y", "x")


def test_new_runs_get_their_own_directory(event, tmp_path):
    kw = dict(model="copylast", output_dir=str(tmp_path), wandb__enabled=False, progress=False)
    a = emberxr.fit([event], **kw)
    b = emberxr.fit([event], **kw)
    assert a.run_dir != b.run_dir and a.run_dir.parent == b.run_dir.parent == tmp_path
    assert a.run_dir.name.startswith("copylast-") and len(a.run_dir.name.split("-")[1]) == 8
    assert (a.run_dir / "model.pt").exists() and (b.run_dir / "model.pt").exists()
    named = emberxr.fit([event], run_name="mine", **kw)
    assert named.run_dir == tmp_path / "mine"
    with pytest.raises(ConfigError, match=r"no run to resume is named.*run_dir"):
        emberxr.fit(tmp_path / "not-read", resume=True, **kw)  # refused before any data is read
    before = sorted(tmp_path.iterdir())
    with pytest.raises(emberxr.ReaderError):
        emberxr.fit(tmp_path / "missing-data", **kw)
    assert sorted(tmp_path.iterdir()) == before  # a failed run leaves no empty directory


def test_fit_and_evaluate_read_a_raw_folder(make_synthetic_event, tmp_path):
    from emberxr.readers.raw_reader import write_raw_event

    ev = make_synthetic_event(invalid_border=3)
    folder = write_raw_event(ev, tmp_path / "raw")
    kw = dict(model="conv2d", epochs=1, steps_per_epoch=2, hidden=4, layers=1, **FAST)
    f = emberxr.fit(folder, run_dir=tmp_path / "run", **kw)
    assert f.steps == 2 and f.threshold is not None
    from_folder = f.evaluate(folder, per_event=False)
    in_memory = f.evaluate([ev], per_event=False)
    assert from_folder.equals(in_memory) and from_folder["n_samples"].iloc[0] == ev.sizes["time"] - 1


def test_fit_and_evaluate_read_a_reader_plugins_path(events, tmp_path):
    import xarray as xr

    from emberxr import plugins

    class NetcdfReader:
        description = "FireEvent as netCDF (tests)"

        def guess_can_open(self, path):
            return str(path).endswith(".fire.nc")

        def open(self, path, **kwargs):
            return xr.open_dataset(path, decode_coords="all").load()

    folder = tmp_path / "nc"
    folder.mkdir()
    for ev in events[:3]:
        ev.to_netcdf(folder / f"{ev.attrs['event_id']}.fire.nc")
    plugins.readers.register("netcdf-test")(NetcdfReader)
    try:
        f = emberxr.fit(
            folder, model="copylast", run_dir=tmp_path / "run", wandb__enabled=False, progress=False
        )
        df = f.evaluate(folder, per_event=True)
    finally:
        plugins.readers.unregister("netcdf-test")
    assert set(df[df.scope == "event"]["group"]) == {"synthetic-0", "synthetic-1", "synthetic-2"}
