"""W&B: modes without network, names/tags, offline logging that never fails the run."""

from __future__ import annotations

import torch

from emberxr.train.config import load_config
from emberxr.train.wandb_utils import WandbLogger, resolve_mode, run_name, run_tags


def test_mode_resolution(monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")
    assert resolve_mode(None) == "offline"
    assert resolve_mode("online") == "offline"  # no key: never try the network
    assert resolve_mode("disabled") == "disabled"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode(None) == "disabled"
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_mode(None) == "online"


def test_names_and_tags_come_from_the_config_not_from_a_model_name():
    cfg = load_config(None, ["model.d_model=32", "model.decoder=unet", "wandb.tags=[exp1]"])
    assert run_name(cfg) == "emberformer-d_model=32-decoder=unet-h6-s0"
    assert {"emberformer", "hist6", "cosine", "decoder=unet", "exp1"} <= set(run_tags(cfg))
    # any model is named the same way: its name, preset and explicit options
    cfg = load_config(
        None, ["model.name=utae", "model.preset=paper", "model.ltae_dropout=0.1", "training.seed=3"]
    )
    assert run_name(cfg) == "utae-paper-ltae_dropout=0.1-h6-s3"
    assert "preset-paper" in run_tags(cfg)


def test_disabled_logger_is_a_no_op(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    lg = WandbLogger(load_config(None))
    assert not lg.active and lg.run is None and lg.sweep_overrides() == {}
    lg.log({"train/loss": 1.0})
    lg.finish()


def test_offline_run_logs_without_network(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = load_config(None, [f"training.output_dir={tmp_path}", "model.name=copylast"])
    lg = WandbLogger(cfg)
    assert lg.active
    lg.log({"train/loss": 0.5, "train/step": 1})
    batch = {
        "fire": torch.zeros(1, 2, 8, 8),
        "valid_t": torch.ones(1, 2, dtype=torch.bool),
        "target": torch.ones(1, 1, 8, 8),
    }
    lg.log_preview(batch, torch.zeros(1, 1, 8, 8), epoch=1)
    assert lg.active  # nothing failed
    lg.finish()
    assert list(tmp_path.rglob("offline-run-*"))


def test_sweep_injected_values_are_found_and_applied(tmp_path, monkeypatch):
    from emberxr.train.config import build_config

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = load_config(None, [f"training.output_dir={tmp_path}"])
    lg = WandbLogger(cfg)
    assert lg.sweep_overrides() == {}  # nothing injected: the run config equals ours
    # what a sweep agent does: its parameters override the config under the same dotted keys
    lg.run.config.update({"model.d_model": 128, "train.lr_temporal": 0.003}, allow_val_change=True)
    injected = lg.sweep_overrides()
    lg.finish()
    assert injected == {"model.d_model": 128, "training.lr_temporal": 0.003}
    new = build_config(None, cfg, injected)
    assert new["model"]["d_model"] == 128 and new["training"]["lr_temporal"] == 0.003
