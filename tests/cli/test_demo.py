"""The demo pipeline end to end on tiny synthetic data: table, GeoTIFF forecast, panels."""

from __future__ import annotations

import pytest

from emberxr.errors import ConfigError


def test_demo_writes_table_forecast_and_panels(tmp_path):
    import rasterio

    from emberxr.demo import run_demo
    from emberxr.testing import synthetic_events

    evs = synthetic_events(6)
    cfg = tmp_path / "demo.yaml"
    cfg.write_text(
        "common:\n"
        "  data: {patch_size: 8, max_history: 3, tile_size: 16}\n"
        "  training: {batch_size: 2, epochs: 1, steps_per_epoch: 2, progress: false, early_stopping: null}\n"
        "  wandb: {enabled: false}\n"
        "models:\n"
        "  copylast: {}\n"
        "  conv2d: {model: {hidden: 8, layers: 1}}\n"
        "forecast: {model: conv2d, horizon: 3}\n"
        "panels: {n_events: 1}\n"
    )
    out = tmp_path / "out"
    comp = run_demo(config=cfg, out=out, data={"train": evs[:4], "val": evs[4:5], "test": evs[5:]})
    assert comp["model"].tolist() == ["copylast", "conv2d"]
    assert {"next_f1", "next_ap", "new_f1", "new_ap", "steps", "fit_s"} <= set(comp.columns)
    assert comp.set_index("model").loc["copylast", "new_f1"] == 0.0  # persistence never finds new burns
    md = (out / "results.md").read_text()
    assert "| model" in md and "New-burn F1 by history length" in md
    assert (out / "results.csv").read_text().startswith("model,target,scope,group")
    from emberxr.study import read_study  # the same results as a study, for `make results`

    runs, meta = read_study(out)
    assert set(runs["arm"]) == {"copylast", "conv2d"} and set(runs["split"]) == {"test"}
    assert runs[runs["arm"] == "conv2d"]["steps"].eq(2).all() and meta["seeds"] == [0]
    tifs = list(out.glob("forecast_*.tif"))
    main_tif = next(p for p in tifs if "arrival" not in p.name)
    with rasterio.open(main_tif) as src:
        assert src.count == 3 and list(src.descriptions) == ["t+1h", "t+2h", "t+3h"] and src.crs is not None
    assert len(list((out / "panels").glob("*.png"))) == 2


def test_demo_config_errors(tmp_path):
    from emberxr.demo import load_demo_config, run_demo

    bad = tmp_path / "bad.yaml"
    bad.write_text("modles: {}\n")
    with pytest.raises(ConfigError) as exc:
        load_demo_config(bad)
    assert "unknown demo key 'modles'" in str(exc.value) and "no 'models' section" in str(exc.value)
    ok = tmp_path / "ok.yaml"
    ok.write_text("models: {copylast: {}}\n")
    with pytest.raises(ConfigError, match="not in the demo config"):
        run_demo(config=ok, out=tmp_path / "o", models=["unetz"], data={})


def test_shipped_demo_config_is_valid():
    from emberxr.demo import load_demo_config, model_config

    spec = load_demo_config(None)
    assert list(spec["models"]) == ["copylast", "unets", "utae", "emberformer"]
    for name in spec["models"]:
        cfg = model_config(spec, name)
        assert cfg["model"]["name"] == name and cfg["data"]["catalog"] == "sim-wide-small"
