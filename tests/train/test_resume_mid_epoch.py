"""Mid-epoch resume: a run stopped part-way through an epoch ends with the uninterrupted weights."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import emberxr
from emberxr.testing import synthetic_events, tiny_fit
from emberxr.train.checkpoint import CheckpointRecord

# three training events of 7 samples (batch 2): 11 batches per pass over the data, so an epoch of
# 30 steps runs three passes (orders of epoch*1000 + 0, 1, 2), and steps 11 and 22 end a pass
STREAM = {"preload": False, "steps_per_epoch": 30, "checkpoint_every_steps": 1, "max_val_samples": 4}
# a model with dropout: its masks come from torch's RNG, which the resumed run must continue
DROPOUT = {**STREAM, "model": "test-dropout"}


@pytest.fixture(scope="module", autouse=True)
def _dropout_model():
    from torch import nn

    from emberxr.models.base import FireModel, ModelRequirements, last_frame
    from emberxr.registry import register_model

    @register_model("test-dropout")
    class DropoutNet(FireModel):
        """One conv layer, dropout, a 1x1 head: training draws from torch's RNG every step."""

        requires = ModelRequirements(uses_static=False, uses_wind=False)

        def __init__(self, in_static: int = 0, patch_size: int = 8, max_history: int = 3):
            super().__init__()
            self.conv = nn.Conv2d(1, 8, 3, padding=1)
            self.drop = nn.Dropout(0.5)
            self.head = nn.Conv2d(8, 1, 1)

        def forward(self, batch):
            return self.head(self.drop(torch.relu(self.conv(last_frame(batch)))))

    return DropoutNet


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume") / "events.zarr"
    emberxr.save_events(synthetic_events(4), path)
    return path


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return CheckpointRecord.load(path).state_dict


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def uninterrupted(store, tmp_path_factory):
    """A full run that keeps a copy of every mid-epoch last.pt (and the best.pt of that moment)."""
    snaps: dict[tuple[int, int], tuple[bytes, bytes | None]] = {}
    real = CheckpointRecord.save

    def save(self, path):
        out = real(self, path)
        if self.resume is not None and self.resume.epoch_step:
            best = Path(path).with_name("best.pt")
            snaps[(self.epoch + 1, self.resume.epoch_step)] = (
                Path(path).read_bytes(),
                best.read_bytes() if best.exists() else None,
            )
        return out

    run = tmp_path_factory.mktemp("full")
    mp = pytest.MonkeyPatch()
    mp.setattr(CheckpointRecord, "save", save)
    # module fixtures run before the per-test thread fixture: use the tests' one thread here too,
    # or float sums differ in the last bit from the resumed runs
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fitted = tiny_fit(run, epochs=2, data=store, **DROPOUT)
    finally:
        mp.undo()
        torch.set_num_threads(threads)
    return run, fitted, snaps


@pytest.mark.parametrize(
    ("epoch", "step", "workers"),
    [
        (1, 5, 0),  # inside the first pass
        (1, 22, 0),  # exactly at the end of a pass: the next pass starts after the checkpoint
        (2, 15, 0),  # inside the second pass of epoch 2
        (2, 11, 2),  # persistent DataLoader workers
    ],
)
def test_resuming_from_a_mid_epoch_checkpoint_ends_with_the_same_weights(
    store, uninterrupted, tmp_path, epoch, step, workers
):
    run, full, snaps = uninterrupted
    if workers:  # the reference run with workers
        ref = tiny_fit(tmp_path / "ref", epochs=2, data=store, num_workers=workers, **DROPOUT)
        last_ref = _weights(tmp_path / "ref" / "last.pt")
        assert _same_weights(last_ref, _weights(run / "last.pt"))  # workers change nothing, dropout included
    else:
        ref = full
    last, best = snaps[(epoch, step)]
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    (resumed_dir / "last.pt").write_bytes(last)
    if best is not None:
        (resumed_dir / "best.pt").write_bytes(best)
    rec = CheckpointRecord.load(resumed_dir / "last.pt")
    assert rec.epoch == epoch - 1 and rec.resume.epoch_step == step
    resumed = tiny_fit(resumed_dir, epochs=2, data=store, resume=True, num_workers=workers, **DROPOUT)
    assert _same_weights(_weights(resumed_dir / "last.pt"), _weights(run / "last.pt"))
    assert resumed.history == ref.history  # losses of the resumed epoch summed over every step
    assert resumed.steps == ref.steps == 60
    assert CheckpointRecord.load(resumed_dir / "last.pt").resume.epoch_step == 0


def test_a_mid_epoch_position_with_other_sample_settings_is_refused(store, uninterrupted, tmp_path):
    _, _, snaps = uninterrupted
    (tmp_path / "last.pt").write_bytes(snaps[(1, 5)][0])
    with pytest.raises(emberxr.CheckpointError, match=r"mid-epoch.*batch_size 2 -> 3"):
        tiny_fit(tmp_path, epochs=2, data=store, resume=True, **{**DROPOUT, "batch_size": 3})


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(store, tmp_path):
    run = tmp_path / "run"
    settings = {**STREAM, "steps_per_epoch": 120, "checkpoint_every_steps": 3}
    sets = [f"--set={k}={v}" for k, v in settings.items()]
    cmd = [sys.executable, "-m", "emberxr.testing.training", str(run), "1", f"--data={store}", *sets]
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    last = run / "last.pt"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if last.exists():
                try:
                    if CheckpointRecord.load(last).resume.epoch_step >= 12:
                        break
                except emberxr.CheckpointError:
                    pass
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = CheckpointRecord.load(last).resume.epoch_step  # complete: writes are atomic
    assert 12 <= killed_at < 120  # killed part-way through the one epoch
    resumed = tiny_fit(run, epochs=1, data=store, resume=True, **settings)
    assert not list(run.glob(".*.tmp-*"))  # a write cut by the kill was cleaned up by the next one
    full_dir = tmp_path / "full"
    full = tiny_fit(full_dir, epochs=1, data=store, **settings)
    assert _same_weights(_weights(run / "last.pt"), _weights(full_dir / "last.pt"))
    assert resumed.history == full.history and resumed.steps == full.steps == 120
    shutil.rmtree(full_dir)


def test_validation_loss_is_the_mean_batch_loss_and_workers_leave_the_rng_as_without(events):
    from emberxr.data.loaders import build_dataset, build_loader
    from emberxr.train.config import build_config
    from emberxr.train.loop import evaluate_model, start_pass
    from emberxr.train.loss import FireLoss

    cfg = build_config("conv2d", None, {"patch_size": 8, "max_history": 3, "batch_size": 3, "hidden": 4})
    net = emberxr.create_model("conv2d", in_static=4, patch_size=8, hidden=4)
    ds = build_dataset(events[:2], None, cfg, net, train=False, preload=True)
    loader = build_loader(ds, cfg)
    loss_fn = FireLoss(2.0)
    _, vloss = evaluate_model(net, loader, loss_fn=loss_fn)
    with torch.no_grad():
        losses = [float(loss_fn(net(b), b["target"], b["valid"])) for b in loader]
    assert vloss == pytest.approx(sum(losses) / len(losses))
    draws = []
    for workers in (0, 1):
        cfg["data"]["num_workers"] = workers
        torch.manual_seed(0)
        next(start_pass(build_loader(ds, cfg)))
        draws.append(torch.rand(3))
    assert torch.equal(draws[0], draws[1])
