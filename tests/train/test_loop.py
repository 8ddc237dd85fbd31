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
        lr_temporal=0.0,
        monitor="val/loss",
        monitor_mode="min",
        options={"hidden": 4, "layers": 1},
    )
    # with lr 0 nothing improves after epoch 1: stop after one bad epoch
    assert [h["epoch"] for h in f.history] == [1, 2]


def test_differential_lrs_and_decoder_freezing(events, tmp_path):
    from emberxr.train.config import load_config
    from emberxr.train.loop import Trainer

    net = emberxr.create_model(
        "emberformer", in_static=5, patch_size=8, max_history=3, d_model=16, nhead=2, num_layers=1
    )
    cfg = load_config(None, ["training.lr_temporal=0.01", "training.lr_spatial=0.001", "wandb.enabled=false"])
    tr = Trainer(net, cfg, tmp_path, {"model_name": "emberformer"})
    tr._build_optimizer(10)
    lrs = {g["name"]: g["lr"] for g in tr.optimizer.param_groups}
    groups = net.param_groups()
    if groups["spatial"]:
        assert lrs["spatial/decay"] == pytest.approx(0.001)
    assert lrs["temporal/decay"] == pytest.approx(0.01)
    assert all(g["weight_decay"] == 0.0 for g in tr.optimizer.param_groups if g["name"].endswith("no_decay"))
    n_params = sum(len(g["params"]) for g in tr.optimizer.param_groups)
    assert n_params == len(list(net.parameters()))
    torch.manual_seed(0)


def _register_two_part_model():
    from torch import nn

    from emberxr.models.base import FireModel, ModelRequirements, last_frame
    from emberxr.registry import register_model

    @register_model("test-two-part")
    class TwoPart(FireModel):
        """A tiny model with an encoder (temporal group) and a freezable decoder (spatial group)."""

        requires = ModelRequirements(uses_static=False, uses_wind=False)

        def __init__(self, in_static: int = 0, patch_size: int = 8, max_history: int = 3):
            super().__init__()
            self.encoder = nn.Conv2d(1, 4, 3, padding=1)
            self.decoder = nn.Conv2d(4, 1, 3, padding=1)

        def param_groups(self):
            return {"temporal": list(self.encoder.parameters()), "spatial": list(self.decoder.parameters())}

        def freeze_decoder(self):
            self.decoder.requires_grad_(False)

        def unfreeze_decoder(self):
            self.decoder.requires_grad_(True)

        def forward(self, batch):
            return self.decoder(torch.relu(self.encoder(last_frame(batch))))

    return TwoPart


def test_decoder_frozen_for_freeze_epochs_then_trained(events, tmp_path):
    from emberxr.train.loop import seed_everything

    _register_two_part_model()
    seed_everything(0)
    init = emberxr.create_model("test-two-part", in_static=5, patch_size=8, max_history=3).state_dict()
    common = dict(
        model="test-two-part",
        steps_per_epoch=2,
        batch_size=2,
        patch_size=8,
        max_history=3,
        wandb__enabled=False,
        progress=False,
        early_stopping=None,
        training__freeze_epochs=1,
        lr_spatial=0.05,
        lr_temporal=0.05,
    )
    one = emberxr.fit(events[:2], run_dir=tmp_path / "a", epochs=1, **common).model.state_dict()
    assert torch.equal(one["decoder.weight"], init["decoder.weight"])  # frozen during epoch 1
    assert not torch.equal(one["encoder.weight"], init["encoder.weight"])
    two = emberxr.fit(events[:2], run_dir=tmp_path / "b", epochs=2, **common).model.state_dict()
    assert not torch.equal(two["decoder.weight"], init["decoder.weight"])  # unfrozen in epoch 2
