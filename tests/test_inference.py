"""Windowed prediction (emberxr.inference): windows, blending, batching over histories, lazy reads,
devices, and the streamed files of emberxr.forecast.write_prediction."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch
from torch import nn

from emberxr.errors import ConfigError, EventValidationError
from emberxr.inference import (
    Runner,
    TorchRunner,
    plan_panels,
    plan_windows,
    predict_histories,
    resolve_device,
    taper,
    training_device,
)
from emberxr.models.base import FireModel, apply_valid, last_step_inputs
from emberxr.normalize import compute_stats
from emberxr.schema import wind_series


class PixelModel(FireModel):
    """Per-pixel (1×1 conv) model: a constant input gives a constant output."""

    name = "pixel-test"

    def __init__(self, in_static: int = 0, patch_size: int = 8, max_history: int = 4):
        super().__init__()
        self.in_static = in_static
        self.net = nn.Sequential(nn.Conv2d(in_static + 3, 8, 1), nn.GELU(), nn.Conv2d(8, 1, 1))

    def forward(self, batch):
        return apply_valid(self.net(last_step_inputs(batch, self.in_static)), batch)


class ConvModel(PixelModel):
    """Two 3×3 convolutions, no normalisation: translation-equivariant (receptive radius 2)."""

    name = "conv-test"

    def __init__(self, in_static: int = 0, patch_size: int = 8, max_history: int = 4):
        super().__init__(in_static, patch_size, max_history)
        c = in_static + 3
        self.net = nn.Sequential(nn.Conv2d(c, 8, 3, padding=1), nn.GELU(), nn.Conv2d(8, 1, 3, padding=1))


def _inputs(ev, n=1, t0=2, h=4):
    fire = np.repeat((np.asarray(ev["fire"].values)[None, t0 : t0 + h] > 0).astype(np.uint8), n, axis=0)
    wind = np.repeat(np.asarray(wind_series(ev), np.float32)[None, t0 : t0 + h], n, axis=0)
    return fire, wind, np.asarray(ev["time"].values)[t0 : t0 + h]


@pytest.fixture
def scene(make_synthetic_event):
    return make_synthetic_event(height=72, width=104, invalid_border=0)  # multiples of the patch


# -- windows and weights ---------------------------------------------------------------------------
def test_taper_is_a_partition_of_unity_with_a_zero_guard_band():
    L, o = 64, 16
    a, b = taper(L, 0, o), taper(L, o, 0)
    # b starts where a's last o pixels are
    np.testing.assert_allclose(a[L - o :] + b[:o], 1.0, atol=1e-6)
    assert np.all(a[: L - o] == 1.0) and np.all(b[o:] == 1.0)
    assert np.all(a[L - o // 4 :] == 0.0) and np.all(b[: o // 4] == 0.0)  # guard bands
    assert np.all(np.diff(b[:o]) >= 0)  # a smooth ramp up
    np.testing.assert_array_equal(taper(L, 0, 0), np.ones(L, np.float32))


@pytest.mark.parametrize(
    ("shape", "tile", "overlap"),
    [((72, 100), 32, 8), ((100, 37), 32, 16), ((130, 130), 48, 24), ((33, 90), 16, 8)],
)
def test_window_weights_cover_every_pixel(shape, tile, overlap):
    plan = plan_windows(shape, tile, overlap, 8)
    total = np.zeros(shape, np.float64)
    for band in plan.bands:
        for t in band:
            total[t.slices] += plan.weights(t)
    assert total.min() > 0.05  # every pixel has weight (the normalisation never divides by ~0)
    assert plan.n_windows > 1


def test_a_scene_that_fits_is_one_window_and_bad_windows_are_refused():
    plan = plan_windows((40, 48), 64, None, 8)
    assert plan.n_windows == 1 and plan.window == (40, 48)
    with pytest.raises(ConfigError, match="multiple of patch_size"):
        plan_windows((100, 100), 30, None, 8)
    with pytest.raises(ConfigError, match="overlap"):
        plan_windows((100, 100), 32, 32, 8)


# -- blending -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("tile", "overlap"), [(32, 8), (32, 16), (48, 16), (24, 8)])
def test_constant_input_gives_a_constant_output_across_window_borders(scene, tile, overlap):
    ev = scene.copy()
    ev["static"] = ev["static"] * 0 + 1.0
    stats = compute_stats([scene])
    torch.manual_seed(0)
    model = PixelModel(stats.n_static)
    fire = np.zeros((1, 3, 72, 104), np.uint8)
    wind = np.ones((1, 3, 2), np.float32)
    times = np.asarray(ev["time"].values)[:3]
    out = predict_histories(
        model, stats, ev, fire, wind, times, max_history=4, patch_size=8, tile_size=tile, overlap=overlap
    )[0]
    assert plan_windows((72, 104), tile, overlap, 8).n_windows > 4
    assert np.ptp(out) < 1e-6, np.ptp(out)


@pytest.mark.parametrize(("tile", "overlap"), [(32, 8), (48, 24), (40, 16)])
def test_tiled_equals_one_window_for_a_translation_equivariant_model(scene, tile, overlap):
    stats = compute_stats([scene])
    torch.manual_seed(0)
    model = ConvModel(stats.n_static)
    fire, wind, times = _inputs(scene)
    kw = dict(max_history=4, patch_size=8)
    whole = predict_histories(model, stats, scene, fire, wind, times, tile_size=None, **kw)
    tiled = predict_histories(model, stats, scene, fire, wind, times, tile_size=tile, overlap=overlap, **kw)
    assert plan_windows((72, 104), tile, overlap, 8).n_windows > 4
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_histories_are_batched_like_single_predictions(scene):
    from emberxr.forecast import predict_step

    stats = compute_stats([scene])
    torch.manual_seed(0)
    model = ConvModel(stats.n_static)
    fire, wind, times = _inputs(scene, n=3)
    fire[1] = np.roll(fire[1], 9, axis=-1)  # three different histories
    fire[2] = 0
    wind[2] *= -1.0
    kw = dict(max_history=4, patch_size=8, tile_size=32, overlap=8)
    many = predict_histories(model, stats, scene, fire, wind, times, batch_size=5, **kw)
    for n in range(3):
        one = predict_step(model, stats, scene, fire[n], wind[n], times, **kw)
        np.testing.assert_allclose(many[n], one, atol=1e-6)
    assert not np.allclose(many[0], many[1], atol=1e-3)


def test_histories_equal_inside_a_window_run_the_model_once_there(scene):
    stats = compute_stats([scene])
    torch.manual_seed(0)
    model = ConvModel(stats.n_static)
    seen: list[int] = []
    forward = model.forward
    model.forward = lambda batch: (seen.append(int(batch["fire"].shape[0])), forward(batch))[1]
    fire, wind, times = _inputs(scene, n=4)
    fire[3, :, :, 80:] = 1 - fire[3, :, :, 80:]  # history 3 differs in the right-hand windows only
    kw = dict(max_history=4, patch_size=8, tile_size=32, overlap=8)
    many = predict_histories(model, stats, scene, fire, wind, times, batch_size=64, **kw)
    tiles = [t for band in plan_windows((72, 104), 32, 8, 8).bands for t in band]
    n_windows, right = len(tiles), sum(t.x0 + t.w > 80 for t in tiles)
    assert sum(seen) == n_windows + right  # histories 0-2 share every window, 3 shares the left ones
    np.testing.assert_array_equal(many[0], many[1])
    np.testing.assert_array_equal(many[0], many[2])
    seen.clear()
    model.forward = forward
    alone = predict_histories(model, stats, scene, fire[3:], wind[3:], times, **kw)
    np.testing.assert_allclose(many[3], alone[0], atol=1e-6)
    assert not np.allclose(many[3], many[0], atol=1e-4)


def test_sink_gets_every_row_once_in_order(scene):
    stats = compute_stats([scene])
    model = ConvModel(stats.n_static)
    fire, wind, times = _inputs(scene, n=2)
    got = []
    kw = dict(max_history=4, patch_size=8, tile_size=24, overlap=8, batch_size=4)
    out = predict_histories(
        model, stats, scene, fire, wind, times, sink=lambda r, c, a: got.append((r, c, a)), **kw
    )
    assert out is None
    starts = [r for r, _, _ in got]
    assert starts[0] == 0 and starts == sorted(starts) and len(got) > 1
    assert {c for _, c, _ in got} == {0}  # narrower than a panel: whole rows
    rows = np.concatenate([a for _, _, a in got], axis=1)
    np.testing.assert_array_equal(rows, predict_histories(model, stats, scene, fire, wind, times, **kw))


def test_panels_tile_the_scene_and_run_every_window_touching_them():
    plan = plan_windows((100, 1000), 64, 16, 8)
    panels = plan_panels(plan, 300)
    assert len(panels) > 2
    assert panels[0].out[0] == 0 and panels[-1].out[1] == 1000
    for a, b in itertools.pairwise(panels):
        assert a.out[1] == b.out[0]  # no gap, no overlap
    for panel in panels:
        e0, e1 = panel.out
        assert e1 - e0 <= 300
        tiles = {t for band in panel.bands for t in band}
        wanted = {t for band in plan.bands for t in band if t.x0 < e1 and t.x0 + t.w > e0}
        assert tiles == wanted
        assert panel.read == (min(t.x0 for t in tiles), max(t.x0 + t.w for t in tiles))
    assert plan_panels(plan, 1000) == plan_panels(plan, 5000)  # one panel
    assert len(plan_panels(plan, 1000)) == 1


@pytest.mark.parametrize("lazy", [False, True])
def test_panels_give_the_whole_scene_result(scene, tmp_path, monkeypatch, lazy):
    """Predicted in vertical panels (a scene wider than PANEL_WIDTH), every pixel equals the one-pass
    result, and the sink gets each pixel once, panel by panel."""
    import emberxr
    from emberxr import inference
    from emberxr.io.events import save_event

    stats = compute_stats([scene])
    model = ConvModel(stats.n_static)
    fire, wind, times = _inputs(scene, n=2)
    kw = dict(max_history=4, patch_size=8, tile_size=24, overlap=8, batch_size=3)
    whole = predict_histories(model, stats, scene, fire, wind, times, **kw)
    event = scene
    if lazy:
        path = tmp_path / "scene.zarr"
        chunks = {"fire": (8, 16, 16), "static": (4, 16, 16), "valid": (16, 16)}
        save_event(scene, path, encoding={v: {"chunks": c} for v, c in chunks.items()})
        event = emberxr.open_event(path)
        fire = event["fire"].data[None, 2:6].repeat(2, axis=0)
    monkeypatch.setattr(inference, "PANEL_WIDTH", 40)
    got = []
    predict_histories(
        model, stats, event, fire, wind, times, sink=lambda r, c, a: got.append((r, c, a)), **kw
    )
    cols = sorted({c for _, c, _ in got})
    assert len(cols) >= 3 and cols[0] == 0
    seen = np.zeros(scene["valid"].shape, int)
    out = np.full_like(whole, np.nan)
    for r, c, a in got:
        seen[r : r + a.shape[1], c : c + a.shape[2]] += 1
        out[:, r : r + a.shape[1], c : c + a.shape[2]] = a
    assert (seen == 1).all()
    np.testing.assert_allclose(out, whole, atol=1e-6)
    panel_of = [cols.index(c) for _, c, _ in got]
    assert panel_of == sorted(panel_of)  # panel after panel


def test_lazy_event_is_read_window_by_window(scene, tmp_path):
    import dask
    from dask.callbacks import Callback

    import emberxr
    from emberxr.io.events import save_event

    path = tmp_path / "scene.zarr"
    chunks = {"fire": (8, 16, 16), "static": (4, 16, 16), "valid": (16, 16)}
    save_event(scene, path, encoding={v: {"chunks": c} for v, c in chunks.items()})
    lazy = emberxr.open_event(path)
    assert isinstance(lazy["fire"].data, dask.array.Array)
    stats = compute_stats([scene])
    model = ConvModel(stats.n_static)
    fire_mem, wind, times = _inputs(scene)
    fire_lazy = lazy["fire"].data[None, 2:6]
    kw = dict(max_history=4, patch_size=8, tile_size=24, overlap=8, batch_size=2)

    rows = []

    class Rows(Callback):
        def _posttask(self, key, result, dsk, state, id):
            if hasattr(result, "shape") and len(result.shape) >= 2:
                rows.append(result.shape[-2])

    with Rows():
        got = predict_histories(model, stats, lazy, fire_lazy, wind, times, **kw)
    np.testing.assert_allclose(
        got, predict_histories(model, stats, scene, fire_mem, wind, times, **kw), atol=1e-6
    )
    assert rows and max(rows) < scene.sizes["y"], (rows, scene.sizes)  # never the whole scene at once


class _CountingRows:
    """A numpy array that records which rows every read covers (what Dask's chunk tasks call)."""

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.ndim, self.reads = a, a.shape, a.dtype, a.ndim, []

    def __getitem__(self, index):
        rows = index[1] if isinstance(index, tuple) else index
        self.reads.append(rows.indices(self.shape[1]))
        return self.a[index]


def test_row_blocks_read_each_storage_row_once_and_return_the_requested_rows(monkeypatch):
    import dask.array as da

    import emberxr.inference as inf

    a = np.arange(3 * 100 * 7, dtype=np.float32).reshape(3, 100, 7)
    src = _CountingRows(a)
    rows = inf.RowBlocks(da.from_array(src, chunks=a.shape, asarray=False), axis=1, block=32)
    strips = [slice(y, min(y + 24, 100)) for y in range(0, 100, 16)]  # overlapping, moving down
    for r in strips:
        np.testing.assert_array_equal(rows(r), a[:, r])
    covered = sorted(r[:2] for r in src.reads if r[1] > r[0])
    assert covered == [(0, 32), (32, 64), (64, 96), (96, 100)]  # each block once, aligned to 32
    assert set(rows.blocks) == {3}  # what is above the last strip is dropped
    np.testing.assert_array_equal(rows(slice(5, 40)), a[:, 5:40])  # back up: read again, still right
    # a block bigger than BLOCK_BYTES is read in parts (aligned to the storage chunks)
    monkeypatch.setattr(inf, "BLOCK_BYTES", 3 * 7 * 4 * 10)
    src.reads.clear()
    split = inf.RowBlocks(da.from_array(src, chunks=a.shape, asarray=False), axis=1, block=32)
    assert split.bounds.tolist()[:5] == [0, 8, 16, 24, 32] and split.bounds[-1] == 100
    for r in strips:
        np.testing.assert_array_equal(split(r), a[:, r])
    assert max(b - a0 for a0, b, _ in src.reads) <= 10
    # numpy, or no block height: plain slices
    np.testing.assert_array_equal(inf.RowBlocks(a, 1, 32)(slice(3, 9)), a[:, 3:9])


def test_storage_rows_come_from_the_store(scene, tmp_path):
    import emberxr
    from emberxr.inference import storage_rows
    from emberxr.io.events import save_event

    path = tmp_path / "scene.zarr"
    save_event(scene, path, encoding={"fire": {"chunks": (8, 24, 16)}, "static": {"chunks": (4, 24, 16)}})
    assert storage_rows(emberxr.open_event(path)) == 24
    assert storage_rows(scene) is None  # in memory: nothing to align to


# -- devices and model state ----------------------------------------------------------------------
def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match=r"not a device|use cpu"):
        resolve_device("tpu")
    assert training_device({"training": {"device": "cpu"}}) == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="not available"):
            resolve_device("cuda")
        # trained on CUDA, predicted here on the CPU
        assert training_device({"training": {"device": "cuda"}}) == "cpu"
        assert training_device({"training": {"device": "auto"}}) == "cpu"
    else:  # pragma: no cover - GPU machines
        assert training_device({"training": {"device": "auto"}}) == "cuda"


class _Capture(Runner):
    """Keeps the batches it is given; logits 0."""

    def __init__(self) -> None:
        self.batches: list[dict] = []

    def logits(self, batch):
        self.batches.append(batch)
        return torch.zeros((batch["fire"].shape[0], 1, *batch["fire"].shape[-2:]))


@pytest.mark.parametrize("dynamic", [False, True])
def test_forecast_inputs_are_the_training_samples(make_synthetic_event, dynamic):
    """A forecast's window is exactly what FireSampleDataset gives for the same (event, t): the
    same normalisation, padding, wind and dynamic bands (shared code, checked here end to end)."""
    from emberxr.data.datasets import FireSampleDataset

    ev = make_synthetic_event(
        height=36, width=44, steps=7, dynamic=dynamic, invalid_border=2
    )  # padded to 40×48
    stats = compute_stats([ev])
    t, h = 5, 4
    steps = slice(t - h + 1, t + 1)
    fire = (ev["fire"].values[None, steps] > 0).astype(np.uint8)
    wind = np.asarray(wind_series(ev), np.float32)[None, steps]
    dyn = ev["dynamic"].values[steps] if dynamic else None
    runner = _Capture()
    predict_histories(runner, stats, ev, fire, wind, ev["time"].values[steps], max_history=h, patch_size=8,
                      dynamic_hist=dyn)  # fmt: skip
    (batch,) = runner.batches
    ds = FireSampleDataset([ev], stats, max_history=h, patch_size=8)
    sample = ds[next(i for i in range(len(ds)) if ds.sample_info(i)["t"] == t)]
    keys = ["fire", "static", "valid", "wind"] + (["dynamic"] if dynamic else [])
    for k in keys:
        assert batch[k].shape[0] == 1 and batch[k][0].dtype == sample[k].dtype, k
        torch.testing.assert_close(batch[k][0], sample[k], rtol=0, atol=0, msg=k)
    assert int(batch["hist_len"][0]) == sample["hist_len"] == h
    assert batch["static"].abs().sum() > 0 and batch["fire"].sum() > 0  # not a comparison of zeros


def test_an_event_with_other_bands_is_refused_before_the_model_runs(scene):
    stats = compute_stats([scene])
    renamed = scene.assign_coords(band=[f"other{i}" for i in range(scene.sizes["band"])])
    fire, wind, times = _inputs(renamed)
    runner = _Capture()
    with pytest.raises(EventValidationError, match="missing from the event"):
        predict_histories(runner, stats, renamed, fire, wind, times, max_history=4, patch_size=8)
    assert runner.batches == []


def test_forecast_is_on_the_event_grid_mapping_and_transform(scene):
    import xarray as xr

    from emberxr.forecast import georeference

    gm = scene.rio.grid_mapping
    before = dict(scene[gm].attrs)
    ds = xr.Dataset({"p": (("y", "x"), np.zeros(scene["fire"].shape[1:], np.float32))},
                    coords={"y": scene["y"].values, "x": scene["x"].values})  # fmt: skip
    out = georeference(ds, scene)
    assert out is not ds and gm not in ds.coords  # a copy unless inplace
    assert out.rio.crs == scene.rio.crs and out["p"].encoding["grid_mapping"] == gm
    assert out["p"].rio.transform().almost_equals(scene.rio.transform())
    assert out[gm].attrs["crs_wkt"] == scene[gm].attrs["crs_wkt"]
    assert dict(scene[gm].attrs) == before  # the event's grid mapping is not changed
    # a rotated grid keeps the event's own transform (cell centres cannot describe it)
    rotated = scene.copy()
    rotated[gm].attrs = {**before, "GeoTransform": "500000 30 5 4200000 5 -30"}
    assert georeference(ds, rotated)[gm].attrs["GeoTransform"] == "500000.0 30.0 5.0 4200000.0 5.0 -30.0"


def test_torch_runner_restores_the_model():
    from emberxr.registry import create_model

    model = create_model("emberformer", in_static=2, patch_size=8, max_history=4, spatial_layers=0).train()
    with TorchRunner(model, "cpu", channels_last=True) as run:
        assert not model.training and model.record_attention is False
        assert run.device == torch.device("cpu")
    assert model.training and model.record_attention is True
    assert "record_attention" not in model.__dict__
    assert all(p.is_contiguous() for p in model.parameters())


# -- streamed files ---------------------------------------------------------------------------------
def _fitted(scene, name="conv2d", **over):
    from emberxr.api import Fitted
    from emberxr.registry import create_model, get_model_class
    from emberxr.train.config import build_config, model_kwargs

    stats = compute_stats([scene])
    cfg = build_config(name, None, {"max_history": 4, "patch_size": 8, "tile_size": 32, **over})
    torch.manual_seed(0)
    net = create_model(name, **model_kwargs(cfg, get_model_class(name), stats.n_static, stats.n_dynamic))
    return Fitted(net, name, cfg, stats, 0.3)


@pytest.mark.parametrize("cog,panel,spill", [(False, None, False), (True, None, False), (False, 40, False),
                                            (False, 40, True)])  # fmt: skip
def test_streamed_prediction_equals_the_in_memory_forecast(scene, tmp_path, monkeypatch, cog, panel, spill):
    """Also in vertical panels (``panel``: PANEL_WIDTH while streaming; the in-memory forecast runs
    in one pass): the multi-step feedback, masks and arrival times are written block by block;
    ``spill``: what the roll-out carries between steps is kept in temporary files, as for a huge
    scene."""
    import rasterio

    from emberxr import inference
    from emberxr.forecast import write_forecast, write_prediction

    fitted = _fitted(scene)
    ds = fitted.forecast(scene, t=5, horizon=2, progress=False)
    if panel is not None:
        monkeypatch.setattr(inference, "PANEL_WIDTH", panel)
        assert len(inference.plan_panels(inference.plan_windows((72, 104), 32, None, 8))) > 1
    if spill:
        monkeypatch.setattr(inference, "SPILL_PIXELS", 0)
        assert inference.SceneBuffer((2, 2), np.float32).spilled
    mem = {v: tmp_path / f"mem-{v}.tif" for v in ("probability", "fire_mask", "arrival_time")}
    for v, p in mem.items():
        write_forecast(ds, str(p), cog=cog, variable=v)
    out = write_prediction(
        fitted,
        scene,
        tmp_path / "p.tif",
        t=5,
        horizon=2,
        mask=tmp_path / "m.tif",
        arrival=tmp_path / "a.tif",
        cog=cog,
        progress=False,
    )
    assert out["labels"] == ["t+1h", "t+2h"] and out["issue_time"] == ds.attrs["issue_time"]
    for v, streamed in (("probability", "p.tif"), ("fire_mask", "m.tif"), ("arrival_time", "a.tif")):
        with rasterio.open(tmp_path / streamed) as a, rasterio.open(mem[v]) as b:
            np.testing.assert_array_equal(a.read(), b.read())
            assert a.descriptions == b.descriptions and a.tags() == b.tags()
            assert a.crs == b.crs and a.transform == b.transform and a.dtypes == b.dtypes
            assert (a.nodata == b.nodata) or (np.isnan(a.nodata) and np.isnan(b.nodata))
            assert a.overviews(1) == b.overviews(1)
    assert ds["fire_mask"].values.any()  # the comparison covered a real mask
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["a.tif", "m.tif", "p.tif", *(p.name for p in mem.values())]
    )  # no temporaries left


@pytest.mark.parametrize("kind,panel", [("cumulative", None), ("active", None), ("cumulative", 20)])
def test_streamed_equals_in_memory_with_dynamic_bands_calibration_and_what_if_wind(
    tmp_path, monkeypatch, kind, panel
):
    """(``panel``: the streamed file is predicted in vertical panels, the dynamic bands read per
    panel; the in-memory forecast runs in one pass.)"""
    import rasterio

    from emberxr import inference
    from emberxr.forecast import forecast_from, write_forecast, write_prediction
    from emberxr.testing import synthetic_event

    ev = synthetic_event(height=40, width=48, steps=6, dynamic=True, fire_kind=kind)
    fitted = _fitted(ev, "tiny3d")
    fitted.calibration = {"method": "temperature", "temperature": 1.5, "pixels": "all"}
    wind = [[3.0, -1.0], [0.5, 4.0]]
    opts = {"t": 2, "horizon": 3, "future_wind": wind, "tile_size": 16, "progress": False}
    ds = forecast_from(fitted, ev, **opts)
    assert ds.attrs["calibration"] == "temperature" and ds.attrs["wind_source"] != "event"
    write_forecast(ds, str(tmp_path / "mem.tif"))
    if panel is not None:
        monkeypatch.setattr(inference, "PANEL_WIDTH", panel)
        assert len(inference.plan_panels(inference.plan_windows((40, 48), 16, None, 8))) > 1
    out = write_prediction(fitted, ev, tmp_path / "p.tif", **opts)
    assert out["attrs"] == ds.attrs
    with rasterio.open(tmp_path / "p.tif") as a, rasterio.open(tmp_path / "mem.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.tags() == b.tags()
    # the dynamic bands are read: others give another forecast
    moved = ev.copy()
    moved["dynamic"] = moved["dynamic"] + 3.0
    other = forecast_from(fitted, moved, **opts)
    assert not np.allclose(other["probability"].values, ds["probability"].values, equal_nan=True)


def test_write_prediction_without_threshold_writes_probability_only(scene, tmp_path):
    from emberxr.errors import ThresholdNotSetError
    from emberxr.forecast import write_prediction

    fitted = _fitted(scene)
    fitted.threshold = None
    with pytest.raises(ThresholdNotSetError):
        write_prediction(fitted, scene, tmp_path / "p.tif", mask=tmp_path / "m.tif", progress=False)
    with pytest.raises(ThresholdNotSetError):
        write_prediction(fitted, scene, tmp_path / "p.tif", horizon=2, progress=False)
    assert not list(tmp_path.iterdir())
    write_prediction(fitted, scene, tmp_path / "p.tif", progress=False)
    assert (tmp_path / "p.tif").exists()


def test_forecast_device_option_is_checked(scene):
    fitted = _fitted(scene)
    with pytest.raises(ConfigError, match="device"):
        fitted.forecast(scene, device="quantum", progress=False)


def test_evaluate_runs_on_the_requested_device(scene, tmp_path):
    from emberxr.cli import main
    from emberxr.io.events import save_event

    fitted = _fitted(scene)
    df = fitted.evaluate([scene], device="cpu", per_event=False)
    assert set(df["target"]) == {"next", "new"}
    assert next(fitted.model.parameters()).device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="not available"):
            fitted.evaluate([scene], device="cuda")
        ckpt = fitted.save(tmp_path / "model.pt")
        save_event(scene, tmp_path / "scene.zarr")
        assert main(["evaluate", str(ckpt), str(tmp_path / "scene.zarr"), "--device", "cuda"]) == 1


def test_amp_runs_in_reduced_precision_and_stays_close_to_float32(scene, tmp_path, monkeypatch):
    """``amp``: the model runs under autocast (bfloat16 on the CPU), so the probabilities move a
    little (not bit-equal, which would mean nothing ran in bfloat16) but stay close; the option
    reaches the runner from predict, evaluate and both commands; an exported model refuses it."""
    import emberxr.inference as inference
    from emberxr.cli import main
    from emberxr.forecast import forecast
    from emberxr.io.events import save_event

    fitted = _fitted(scene, "unets")
    full = fitted.predict(scene, progress=False).values
    half = fitted.predict(scene, progress=False, amp=True).values
    assert not np.array_equal(full, half, equal_nan=True)
    np.testing.assert_allclose(half, full, atol=0.02, equal_nan=True)
    dtypes = []
    hook = fitted.model.head.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    fitted.evaluate([scene], per_event=False, amp=True)
    fitted.evaluate([scene], per_event=False)
    hook.remove()
    assert torch.bfloat16 in dtypes and torch.float32 in dtypes
    # the commands pass --amp on
    seen = []
    real = inference.TorchRunner.__init__

    def spy(self, *a, **kw):
        seen.append(kw.get("amp", False))
        real(self, *a, **kw)

    monkeypatch.setattr(inference.TorchRunner, "__init__", spy)
    ckpt = fitted.save(tmp_path / "model.pt")
    save_event(scene, tmp_path / "scene.zarr")
    out = tmp_path / "p.tif"
    assert (
        main(["predict", str(ckpt), str(tmp_path / "scene.zarr"), "-o", str(out), "--amp", "--no-progress"])
        == 0
    )
    assert main(["evaluate", str(ckpt), str(tmp_path / "scene.zarr"), "--amp"]) == 0
    assert seen == [True, True]

    class Exported(inference.Runner):
        def logits(self, batch):
            return torch.zeros((batch["fire"].shape[0], 1, *batch["fire"].shape[-2:]))

    with pytest.raises(ConfigError, match="amp=True with a Exported"):
        forecast(Exported(), fitted.stats, scene, amp=True, progress=False, max_history=4, patch_size=8)


@pytest.mark.slow
def test_compiled_model_predicts_like_the_eager_one(scene):
    fitted = _fitted(scene)
    eager = fitted.predict(scene, progress=False).values
    compiled = fitted.predict(scene, progress=False, compile=True).values
    np.testing.assert_allclose(compiled, eager, atol=1e-5, equal_nan=True)


def test_packed_masks_and_frame_stacks_read_rows_like_arrays():
    import dask.array as da

    from emberxr.inference import FrameStack, PackedMask

    rng = np.random.default_rng(0)
    a = (rng.random((37, 29)) > 0.5).astype(np.uint8)
    m = PackedMask(a)
    assert m.bits.nbytes <= 37 * 4  # one bit per pixel (rows padded to bytes)
    np.testing.assert_array_equal(m[5:20], a[5:20])
    np.testing.assert_array_equal(m[5:20, 3:11], a[5:20, 3:11])
    # filled block by block, as a roll-out's sink gets them (panels cut at columns that are not
    # byte-aligned, rows top to bottom in each): the same bits as packing the whole mask
    built = PackedMask.zeros(a.shape)
    for c0, c1 in ((0, 11), (11, 19), (19, 29)):
        for r0 in range(0, 37, 10):
            built.put(r0, c0, a[r0 : r0 + 10, c0:c1] * 5)  # values > 0 are set
    np.testing.assert_array_equal(built.bits, m.bits)
    np.testing.assert_array_equal(built[:, :], a)
    whole = da.from_array(a * 3, chunks=(37, 10))  # one chunk along y: decoded once, packed
    rows = da.from_array(a, chunks=(8, 29))  # chunked along y: stays lazy
    stack = FrameStack([whole, rows, a])
    assert isinstance(stack.frames[0], PackedMask) and isinstance(stack.frames[1], da.Array)
    assert stack.shape == (1, 3, 37, 29)
    got = stack[:, :, 4:30, 2:20]
    np.testing.assert_array_equal(got[0, 0], a[4:30, 2:20])  # values > 0 read as burned
    np.testing.assert_array_equal(got[0, 1:], np.stack([a, a])[:, 4:30, 2:20])
    # a run of observed frames [k, H, W] stays one lazy part; rolling drops the oldest frames
    run = da.from_array(np.stack([a, 1 - a, a]), chunks=(3, 8, 29))
    stack = FrameStack([run])
    assert stack.shape == (1, 3, 37, 29) and len(stack.frames) == 1
    np.testing.assert_array_equal(stack.last, a)
    rolled = stack.rolled(PackedMask(1 - a), keep=3).rolled(a * 0, keep=3)
    assert rolled.shape == (1, 3, 37, 29)
    np.testing.assert_array_equal(rolled[:, :, :, :][0], np.stack([a, 1 - a, 0 * a]))
    np.testing.assert_array_equal(rolled.rolled(a, keep=2)[:, :, 3:9, :][0], np.stack([0 * a, a])[:, 3:9])


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_scene_buffers_in_a_file_read_back_what_was_written(dtype):
    from emberxr.inference import SceneBuffer

    rng = np.random.default_rng(1)
    a = (rng.random((23, 37)) * 200).astype(dtype)
    with SceneBuffer(a.shape, dtype, spill=True) as filed, SceneBuffer(a.shape, dtype, spill=False) as kept:
        assert filed.spilled and not kept.spilled
        np.testing.assert_array_equal(filed.get(3, 5, 4, 6), np.zeros((4, 6), dtype))  # starts at 0
        for c0, c1 in ((0, 13), (13, 37)):  # panels, rows top to bottom
            for r0 in range(0, 23, 7):
                for buf in (filed, kept):
                    buf.put(r0, c0, a[r0 : r0 + 7, c0:c1])
        for buf in (filed, kept):
            np.testing.assert_array_equal(buf.get(0, 0, 23, 37), a)
            np.testing.assert_array_equal(buf.get(4, 9, 11, 20), a[4:15, 9:29])
            np.testing.assert_array_equal(buf.get(5, 0, 9, 37), a[5:14])  # whole rows: one read
            buf.put(6, 0, a[::-1][6:10])  # whole rows: one write
            np.testing.assert_array_equal(
                buf.get(0, 0, 23, 37), np.concatenate([a[:6], a[::-1][6:10], a[10:]])
            )
            buf.put(6, 0, a[6:10])
        got = filed.get(2, 2, 3, 3)
        got[:] = 0  # a copy: the buffer keeps its values
        np.testing.assert_array_equal(filed.get(2, 2, 3, 3), a[2:5, 2:5])
    assert not filed.spilled  # closed: the temporary file is gone


def test_forecast_takes_a_datatree_event_and_names_bad_inputs(scene, tmp_path):
    """One event of a DataTree (what open_events / a catalog split hold) is forecast like its
    Dataset; a collection or a non-event gets a named error, not an AttributeError."""
    import xarray as xr

    from emberxr.forecast import write_prediction

    fitted = _fitted(scene)
    tree = xr.DataTree.from_dict({"/a": scene, "/b": scene})
    got = fitted.predict(tree["a"], progress=False)
    np.testing.assert_array_equal(got.values, fitted.predict(scene, progress=False).values)
    for bad, words in ((tree, "tree['a']"), (np.zeros((4, 4)), "not a FireEvent")):
        with pytest.raises(ConfigError, match=re.escape(words)):
            fitted.predict(bad, progress=False)
        with pytest.raises(ConfigError):
            write_prediction(fitted, bad, tmp_path / "p.tif", progress=False)
    assert not list(tmp_path.iterdir())
