"""DDP: torchrun with 2 CPU processes (gloo) trains one tiny epoch; rank 0 writes a loadable model
into the one new run directory all ranks share."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

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


_EVAL_WORKER = '''
import json, sys

import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from emberxr.train.distributed import cleanup, init_distributed
from emberxr.train.loop import evaluate_model

torch.set_num_threads(1)


class Samples(Dataset):
    """Deterministic samples whose 'logits' a model just echoes: confident, some saturated."""

    def __len__(self):
        return 7

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        logits = torch.rand(1, 6, 6, generator=g) * 80 - 40
        logits[0, 0, :2] = torch.tensor([float("inf"), -float("inf")])
        return {
            "logits": logits,
            "target": (torch.rand(1, 6, 6, generator=g) < torch.sigmoid(logits / 10)).float(),
            "valid": torch.rand(1, 6, 6, generator=g) > 0.1,
            "fire": (torch.rand(2, 6, 6, generator=g) < 0.2).float(),
            "valid_t": torch.tensor([True, True]),
            "hist_len": torch.tensor(i % 8 + 1),
            "meta": {"event_id": f"ev{i % 3}", "t": i % 8},
        }


def collate(samples):
    out = default_collate([{k: v for k, v in s.items() if k != "meta"} for s in samples])
    return {**out, "meta": [s["meta"] for s in samples]}


class Echo(torch.nn.Module):
    def forward(self, batch):
        return batch["logits"]


class ProbError(torch.nn.Module):
    """A loss that stays finite for infinite logits."""

    def forward(self, logits, target, valid):
        return (torch.sigmoid(logits) - target)[valid].abs().mean()


dist = init_distributed("cpu")
loader = DataLoader(Samples(), batch_size=2, collate_fn=collate)
out = {}
for name, data in (("loader", loader), ("batches", list(loader))):
    acc, loss = evaluate_model(Echo(), data, 0.4, per_event=True, loss_fn=ProbError(), dist=dist)
    out[name] = {"table": acc.table().to_dict("records"), "loss": loss, "best": acc.result("next")["best_threshold"]}
with open(sys.argv[1] + f".{dist.rank}.json", "w") as f:
    json.dump(out, f)
cleanup(dist)
'''


def test_ddp_evaluation_sums_every_rank_and_equals_one_process(tmp_path):
    import json

    import pandas as pd

    script = tmp_path / "evaluate_worker.py"
    script.write_text(_EVAL_WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={_free_port()}",
            str(script),
            str(tmp_path / "two"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    ref = json.loads((tmp_path / "one.0.json").read_text())
    for rank in (0, 1):
        got = json.loads((tmp_path / f"two.{rank}.json").read_text())
        for path in ("loader", "batches"):  # shards of the dataset, and shards of a plain batch list
            want, have = pd.DataFrame(ref[path]["table"]), pd.DataFrame(got[path]["table"])
            assert want["n_samples"].iloc[0] == 7 and {"ev0", "ev1", "ev2"} <= set(want["group"])
            pd.testing.assert_frame_equal(have, want)  # counts summed over ranks, AP from the merged table
            assert got[path]["best"] == ref[path]["best"]
            assert np.isfinite(ref[path]["loss"]) and np.isfinite(got[path]["loss"])
        # the loss is a mean over batches: equal when the ranks share out the same batches
        assert got["batches"]["loss"] == pytest.approx(ref["batches"]["loss"], rel=1e-12)
