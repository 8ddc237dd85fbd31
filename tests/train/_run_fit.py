"""Helper script for the resume / DDP / CLI tests: tiny synthetic events, saved or trained."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def events(n: int = 4):
    from conftest import synthetic_event

    dirs = [270.0, 180.0, 90.0, 0.0, 225.0, 315.0]
    return [synthetic_event(seed=i, event_id=f"synthetic-{i}", wind_from_deg=dirs[i % 6]) for i in range(n)]


# the killed run and its resumption must train the very same model: both use these settings
RESUME_FIT = dict(
    model="conv2d",
    steps_per_epoch=2,
    batch_size=2,
    patch_size=8,
    max_history=3,
    wandb__enabled=False,
    progress=False,
    early_stopping=None,
    hidden=8,
    layers=2,
)


if __name__ == "__main__":
    import torch

    import emberxr

    torch.set_num_threads(1)
    run_dir, epochs = sys.argv[1], int(sys.argv[2])
    emberxr.fit(events(), run_dir=run_dir, epochs=epochs, **RESUME_FIT)
