"""DDP: torchrun with 2 CPU processes (gloo) trains one tiny epoch; rank 0 writes a loadable model
into the one new run directory all ranks share."""

from __future__ import annotations

import os
import subprocess
import sys

import emberxr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_cpu_processes(tmp_path, event):
    from emberxr.io.events import save_events
    from emberxr.testing import synthetic_events

    store = save_events(synthetic_events(4), tmp_path / "events.zarr")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        "model: {name: conv2d, hidden: 8, layers: 1}\n"
        "data: {patch_size: 8, max_history: 3}\n"
        "training: {epochs: 1, steps_per_epoch: 2, batch_size: 2, progress: false, early_stopping: null}\n"
        "wandb: {enabled: false}\n"
    )
    runs = tmp_path / "runs"
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
        f"training.output_dir={runs}",
        "--data",
        str(store),
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "on 2 process(es)" in res.stdout
    (run,) = runs.iterdir()  # both ranks used the one <model>-<timestamp> directory rank 0 made
    assert run.name.startswith("conv2d-")
    fitted = emberxr.load(run / "model.pt")
    assert fitted.model_name == "conv2d" and fitted.epoch == 1
    assert fitted.predict(event).dims == ("y", "x")
