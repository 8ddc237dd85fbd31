"""Exported models (emberxr.export, `emberxr export`, `emberxr predict FILE`): parity with the eager
model on batches with different left paddings, embedded metadata, and running an exported file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emberxr.errors import ExportError
from emberxr.export import INPUTS, check_parity, export_model, load_exported
from emberxr.normalize import compute_stats
from emberxr.testing import make_batch, pad_history


def _fitted(event, name, **over):
    from emberxr.api import Fitted
    from emberxr.registry import create_model, get_model_class
    from emberxr.train.config import build_config, model_kwargs

    stats = compute_stats([event])
    overrides = {"max_history": 4, "patch_size": 8, "tile_size": 32, **over}
    cfg = build_config(name, None, overrides)
    torch.manual_seed(0)
    net = create_model(name, **model_kwargs(cfg, get_model_class(name), stats.n_static))
    return Fitted(net, name, cfg, stats, 0.42)


def _eager(fitted, batch):
    with torch.no_grad():
        fitted.model.eval()
        return fitted.model({k: batch[k] for k in INPUTS}).numpy()


def _padded_batches(n_static):
    """The same kind of random histories with different left paddings and window sizes."""
    a = make_batch(B=3, T=4, H=24, W=40, in_static=n_static, patch_size=8, hist_lens=[4, 2, 1], seed=1)
    b = make_batch(B=2, T=2, H=32, W=16, in_static=n_static, patch_size=8, hist_lens=[2, 1], seed=2)
    return [a, b, pad_history(b, 2)]


def _check_exported(fitted, exported):
    for batch in _padded_batches(fitted.stats.n_static):
        got = exported(batch)
        np.testing.assert_allclose(got, _eager(fitted, batch), atol=1e-4)
    # the exported graph is padding-invariant too: more left padding, same logits
    b = _padded_batches(fitted.stats.n_static)[1]
    np.testing.assert_allclose(exported(b), exported(pad_history(b, 1)), atol=1e-5)


@pytest.mark.parametrize("name", ["emberformer", "conv2d"])
def test_exported_program_matches_eager_on_different_left_paddings(event, tmp_path, name):
    small = {"spatial_layers": 1, "num_layers": 1, "d_model": 16, "nhead": 2}
    fitted = _fitted(event, name, **(small if name == "emberformer" else {}))
    exported = export_model(fitted, tmp_path / "m.pt2", "exported-program")
    assert exported.format == "exported-program" and exported.parity is not None and exported.parity < 1e-4
    _check_exported(fitted, exported)
    again = load_exported(tmp_path / "m.pt2")  # metadata read back from the archive
    assert again.model_name == name and again.threshold == pytest.approx(0.42)
    assert again.band_names == fitted.band_names
    assert again.stats.to_dict() == fitted.stats.to_dict()
    assert again.sample_kwargs == {"max_history": 4, "patch_size": 8, "tile_size": 32}
    assert fitted.model.record_attention is True and "record_attention" not in fitted.model.__dict__


def test_onnx_export_carries_metadata_and_matches_eager(event, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    onnx = pytest.importorskip("onnx")
    fitted = _fitted(event, "conv2d")
    exported = export_model(fitted, tmp_path / "m.onnx", "onnx")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(props["band_names"]) == fitted.band_names
    assert json.loads(props["norm_stats"]) == fitted.stats.to_dict()
    assert float(props["threshold"]) == pytest.approx(0.42)
    assert int(props["patch_size"]) == 8 and int(props["max_history"]) == 4
    _check_exported(fitted, exported)
    # one ONNX Runtime session per thread count, kept for the next forecast
    with exported.runner("cpu") as a:
        session = a.session
    with exported.runner("cpu") as b:
        assert b.session is session


@pytest.mark.slow
@pytest.mark.parametrize("name", ["emberformer", "utae", "unets", "tiny3d"])
def test_onnx_export_of_every_model(event, tmp_path, name):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    fitted = _fitted(event, name)
    _check_exported(fitted, export_model(fitted, tmp_path / "m.onnx", "onnx"))


def test_dynamic_bands_and_calibration_travel_with_the_exported_model(tmp_path):
    from emberxr.api import Fitted
    from emberxr.forecast import forecast_from
    from emberxr.registry import create_model, get_model_class
    from emberxr.testing import synthetic_event
    from emberxr.train.config import build_config, model_kwargs

    ev = synthetic_event(height=32, width=32, steps=6, dynamic=True)
    stats = compute_stats([ev])
    over = {"max_history": 4, "patch_size": 8, "tile_size": 32}
    over.update(spatial_layers=1, num_layers=1, d_model=16, nhead=2)
    cfg = build_config("emberformer", None, over)
    torch.manual_seed(0)
    kw = model_kwargs(cfg, get_model_class("emberformer"), stats.n_static, stats.n_dynamic)
    net = create_model("emberformer", **kw)
    cal = {"method": "temperature", "temperature": 2.0, "pixels": "all"}
    fitted = Fitted(net, "emberformer", cfg, stats, 0.42, calibration=cal)
    exported = export_model(fitted, tmp_path / "m.pt2", "exported-program")
    assert exported.inputs == (*INPUTS, "dynamic") and exported.parity < 1e-4
    assert load_exported(tmp_path / "m.pt2").calibration == cal
    # the exported forecast reads the event's dynamic bands and is calibrated as the eager one
    eager = forecast_from(fitted, ev, t=3, horizon=2, progress=False)
    ours = forecast_from(exported, ev, t=3, horizon=2, progress=False)
    np.testing.assert_allclose(ours["probability"].values, eager["probability"].values, atol=1e-5)
    assert ours.attrs["calibration"] == eager.attrs["calibration"] == "temperature"
    moved = ev.copy()
    moved["dynamic"] = moved["dynamic"] * 0.0 + 5.0
    other = forecast_from(exported, moved, t=3, horizon=1, progress=False)
    assert not np.allclose(other["probability"].values, ours["probability"].values[:1], equal_nan=True)
    batch = make_batch(B=2, T=4, H=16, W=16, in_static=stats.n_static, patch_size=8, tokens=False)
    with pytest.raises(ExportError, match="takes 'dynamic'"):
        exported(batch)


def test_parity_check_catches_a_different_model(event, tmp_path):
    fitted = _fitted(event, "conv2d")
    exported = export_model(fitted, tmp_path / "m.pt2", "exported-program", check=False)
    assert exported.parity is None
    other = _fitted(event, "conv2d")
    with torch.no_grad():
        for p in other.model.parameters():
            p.add_(0.5)
    with pytest.raises(ExportError, match="differs from the eager model"):
        check_parity(other, exported)


def test_bad_files_and_formats_are_refused(event, tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        load_exported(tmp_path / "missing.pt2")
    plain = torch.export.export(torch.nn.Linear(2, 2), (torch.zeros(1, 2),))
    torch.export.save(plain, str(tmp_path / "plain.pt2"))
    with pytest.raises(ExportError, match="no emberxr metadata"):
        load_exported(tmp_path / "plain.pt2")
    (tmp_path / "junk.pt2").write_bytes(b"not an archive")
    with pytest.raises(ExportError, match=r"not a torch\.export archive"):
        load_exported(tmp_path / "junk.pt2")
    with pytest.raises(ExportError, match="unknown export format"):
        export_model(_fitted(event, "conv2d"), tmp_path / "x.bin", "tflite")


def test_cli_exports_and_predicts_with_the_exported_file(make_synthetic_event, tmp_path):
    import rasterio

    from emberxr.cli import main
    from emberxr.io.events import save_event

    scene = make_synthetic_event(height=48, width=64)
    fitted = _fitted(scene, "conv2d")
    ckpt = fitted.save(tmp_path / "model.pt")
    save_event(scene, tmp_path / "scene.zarr")
    assert main(["export", str(ckpt), "--format", "exported-program", "-o", str(tmp_path / "m.pt2")]) == 0
    args = ["--no-progress", "--mask", "MASK", "--device", "cpu"]
    for src, out in ((ckpt, "eager"), (tmp_path / "m.pt2", "exported")):
        cmd = ["predict", str(src), str(tmp_path / "scene.zarr"), "-o", str(tmp_path / f"{out}.tif")]
        assert main(cmd + [a.replace("MASK", str(tmp_path / f"{out}-mask.tif")) for a in args]) == 0
    with rasterio.open(tmp_path / "eager.tif") as a, rasterio.open(tmp_path / "exported.tif") as b:
        np.testing.assert_allclose(a.read(), b.read(), atol=1e-5)
        assert a.descriptions == b.descriptions == ("t+1h",)
    with rasterio.open(tmp_path / "eager-mask.tif") as a, rasterio.open(tmp_path / "exported-mask.tif") as b:
        assert (a.read() != b.read()).mean() < 1e-3
