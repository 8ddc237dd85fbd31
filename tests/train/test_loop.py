"""The training loop: resume after a killed run, schedule, freezing, early stopping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import emberxr
from emberxr.testing import tiny_fit
from emberxr.train.checkpoint import CheckpointRecord


def test_resume_after_sigkill_continues_from_last_complete_epoch(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "emberxr.testing.training", str(run), "500"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    last = run / "last.pt"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if last.exists():
                try:
                    if CheckpointRecord.load(last).epoch >= 2:
                        break
                except emberxr.CheckpointError:
                    pass
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = CheckpointRecord.load(last).epoch  # the file is complete (atomic writes)
    assert done >= 2
    # the same settings (emberxr.testing.TINY_FIT) as the killed run
    fitted = tiny_fit(run, epochs=done + 1, resume=True)
    epochs = [h["epoch"] for h in fitted.history]
    assert epochs == list(range(1, done + 2))  # earlier epochs kept, exactly one more trained
    assert fitted.steps == 2 * (done + 1)
    assert CheckpointRecord.load(last).epoch == done + 1


def test_early_stopping_and_plateau_schedule(events, tmp_path):
    f = emberxr.fit(
        events[:3],
        model="conv2d",
        run_dir=tmp_path,
        epochs=6,
        steps_per_epoch=1,
        batch_size=2,
        patch_size=8,
        max_history=3,
        wandb__enabled=False,
        progress=False,
        early_stopping=1,
        schedule="plateau",
        lr_temporal=1e-30,  # learning rates must be > 0; this one changes no float32 weight
        monitor="val/loss",
        monitor_mode="min",
        hidden=4,
        layers=1,
    )
    # with such a learning rate nothing improves after epoch 1: stop after one bad epoch
    assert [h["epoch"] for h in f.history] == [1, 2]


def test_differential_lrs(events, tmp_path):
    from emberxr.train.config import load_config
    from emberxr.train.loop import Trainer

    net = emberxr.create_model(
        "emberformer", in_static=5, patch_size=8, max_history=3, d_model=16, nhead=2, num_layers=1
    )
    cfg = load_config(None, ["training.lr_temporal=0.01", "training.lr_spatial=0.001", "wandb.enabled=false"])
    tr = Trainer(net, cfg, tmp_path, {"model_name": "emberformer"})
    tr._build_optimizer(10)
    lrs = {g["name"]: g["lr"] for g in tr.optimizer.param_groups}
    assert lrs["spatial/decay"] == pytest.approx(0.001)  # a number is used as given
    assert lrs["temporal/decay"] == pytest.approx(0.01)
    assert all(g["weight_decay"] == 0.0 for g in tr.optimizer.param_groups if g["name"].endswith("no_decay"))
    n_params = sum(len(g["params"]) for g in tr.optimizer.param_groups)
    assert n_params == len(list(net.parameters()))


@pytest.mark.parametrize(("loaded", "expected"), [(False, 0.01), (True, 0.001)])
def test_lr_spatial_auto_is_lower_only_for_loaded_weights(tmp_path, loaded, expected):
    from emberxr.train.config import load_config
    from emberxr.train.loop import Trainer

    cls = _register_two_part_model()
    net = cls(loaded=loaded)
    cfg = load_config(None, ["training.lr_temporal=0.01", "wandb.enabled=false", "training.freeze_epochs=3"])
    assert cfg["training"]["lr_spatial"] == "auto"
    tr = Trainer(net, cfg, tmp_path, {"model_name": "test-two-part"})
    tr._build_optimizer(10)
    lrs = {g["name"]: g["lr"] for g in tr.optimizer.param_groups}
    assert lrs["spatial/decay"] == pytest.approx(expected) and lrs["temporal/decay"] == pytest.approx(0.01)
    assert tr.freeze_epochs == (3 if loaded else 0)  # nothing to freeze without loaded weights


def _register_two_part_model():
    from torch import nn

    from emberxr.models.base import FireModel, ModelRequirements, last_frame
    from emberxr.registry import register_model

    @register_model("test-two-part")
    class TwoPart(FireModel):
        """A tiny model with an encoder (temporal group) and a decoder (spatial group) with BatchNorm
        whose parameters count as loaded from pretrained weights when ``loaded`` is true."""

        requires = ModelRequirements(uses_static=False, uses_wind=False)

        def __init__(
            self, in_static: int = 0, patch_size: int = 8, max_history: int = 3, loaded: bool = True
        ):
            super().__init__()
            self.loaded = loaded
            self.encoder = nn.Conv2d(1, 4, 3, padding=1)
            self.decoder = nn.Sequential(nn.BatchNorm2d(4), nn.Conv2d(4, 1, 3, padding=1))

        def param_groups(self):
            return {"temporal": list(self.encoder.parameters()), "spatial": list(self.decoder.parameters())}

        def pretrained_parameters(self):
            return list(self.decoder.parameters()) if self.loaded else []

        def freeze_decoder(self):
            self.decoder.requires_grad_(False)

        def unfreeze_decoder(self):
            self.decoder.requires_grad_(True)

        def forward(self, batch):
            return self.decoder(torch.relu(self.encoder(last_frame(batch))))

    return TwoPart


FREEZE_FIT = dict(
    model="test-two-part",
    steps_per_epoch=2,
    batch_size=2,
    patch_size=8,
    max_history=3,
    wandb__enabled=False,
    progress=False,
    early_stopping=None,
    freeze_epochs=1,
    lr_spatial=0.05,
    lr_temporal=0.05,
)


def test_loaded_decoder_frozen_for_freeze_epochs_with_batchnorm_statistics(events, tmp_path):
    from emberxr.train.loop import seed_everything

    _register_two_part_model()
    seed_everything(0)
    init = emberxr.create_model("test-two-part", in_static=5, patch_size=8, max_history=3).state_dict()
    one = emberxr.fit(events[:2], run_dir=tmp_path / "a", epochs=1, **FREEZE_FIT).model.state_dict()
    assert torch.equal(one["decoder.1.weight"], init["decoder.1.weight"])  # frozen during epoch 1
    # model.train() runs every epoch, but the frozen BatchNorm kept its running statistics
    assert torch.equal(one["decoder.0.running_mean"], init["decoder.0.running_mean"])
    assert not torch.equal(one["encoder.weight"], init["encoder.weight"])
    two = emberxr.fit(events[:2], run_dir=tmp_path / "b", epochs=2, **FREEZE_FIT).model.state_dict()
    assert not torch.equal(two["decoder.1.weight"], init["decoder.1.weight"])  # unfrozen in epoch 2
    assert not torch.equal(two["decoder.0.running_mean"], init["decoder.0.running_mean"])


def test_random_decoder_is_never_frozen(events, tmp_path):
    from emberxr.train.loop import seed_everything

    _register_two_part_model()
    seed_everything(0)
    init = emberxr.create_model("test-two-part", in_static=5, patch_size=8, max_history=3).state_dict()
    one = emberxr.fit(
        events[:2], run_dir=tmp_path / "a", epochs=1, loaded=False, **FREEZE_FIT
    ).model.state_dict()
    assert not torch.equal(one["decoder.1.weight"], init["decoder.1.weight"])
    assert not torch.equal(one["decoder.0.running_mean"], init["decoder.0.running_mean"])


def test_pretrained_unet_encoder_stays_frozen_with_its_statistics(events, tmp_path, monkeypatch):
    """End to end: `pretrained: true` finds the default file, the encoder (BatchNorm statistics
    included) keeps the file's values while frozen, and the decoder learning rate is lowered."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(5)
    state = timm.create_model("resnet18", pretrained=False).state_dict()
    state["bn1.running_mean"] = torch.linspace(-1, 1, 64)
    monkeypatch.setenv("EMBERXR_WEIGHTS_DIR", str(tmp_path / "weights"))
    (tmp_path / "weights").mkdir()
    torch.save(state, tmp_path / "weights" / "unet-resnet18.pt")
    fitted = emberxr.fit(
        events[:2],
        model="emberformer",
        run_dir=tmp_path / "run",
        epochs=1,
        steps_per_epoch=1,
        batch_size=2,
        patch_size=8,
        max_history=3,
        tile_size=16,
        d_model=8,
        nhead=2,
        num_layers=1,
        spatial_layers=0,
        decoder="unet",
        decoder_config={"encoder_depth": 3, "decoder_channels": [16, 8, 8]},
        pretrained=True,
        freeze_epochs=1,
        lr_temporal=0.01,
        wandb__enabled=False,
        progress=False,
    )
    enc = fitted.model.decoder.net.encoder.state_dict()
    for key in ("bn1.running_mean", "bn1.running_var", "layer1.0.bn1.running_mean", "layer2.0.conv1.weight"):
        assert torch.equal(enc[key], state[key]), key
    assert fitted.config["model"]["pretrained"] is True
