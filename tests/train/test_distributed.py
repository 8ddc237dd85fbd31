"""DDP: torchrun with 2 CPU processes (gloo) trains one tiny epoch; rank 0 writes a loadable model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import emberxr

HERE = Path(__file__).parent


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_cpu_processes(tmp_path, event):
    from emberxr.io.events import save_events

    sys.path.insert(0, str(HERE))
    from _run_fit import events

    store = save_events(events(4), tmp_path / "events.zarr")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        "model: {name: conv2d, hidden: 8, layers: 1}\n"
        "data: {patch_size: 8, max_history: 3}\n"
        "training: {epochs: 1, steps_per_epoch: 2, batch_size: 2, progress: false, early_stopping: null}\n"
        "wandb: {enabled: false}\n"
    )
    run = tmp_path / "run"
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
        "-m",
        "emberxr",
        "fit",
        str(cfg),
        "--data",
        str(store),
        "--run-dir",
        str(run),
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "on 2 process(es)" in res.stdout
    fitted = emberxr.load(run / "model.pt")
    assert fitted.model_name == "conv2d" and fitted.epoch == 1
    assert fitted.predict(event).dims == ("y", "x")
