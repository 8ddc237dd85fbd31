"""A tiny training run on synthetic events: a smoke test for a model, the trainer and resumption.

From Python::

    from emberxr.testing import tiny_fit
    fitted = tiny_fit("runs/smoke", epochs=2)                  # conv2d, 2 steps per epoch
    fitted = tiny_fit("runs/mine", model="mymodel", epochs=1)   # your registered model

From a shell (the resume tests start it as a subprocess and kill it)::

    python -m emberxr.testing.training RUN_DIR EPOCHS
    python -m emberxr.testing.training RUN_DIR 1 --data events.zarr --set preload=false \
        --set steps_per_epoch=200 --set checkpoint_every_steps=5
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emberxr.api import Fitted

__all__ = ["TINY_FIT", "main", "tiny_fit"]

#: the settings of :func:`tiny_fit` (a killed run and its resumption must train the very same
#: model, so both use these); ``hidden``/``layers`` are ``conv2d``'s options and are dropped for
#: another model
TINY_FIT: dict[str, Any] = {
    "model": "conv2d",
    "steps_per_epoch": 2,
    "batch_size": 2,
    "patch_size": 8,
    "max_history": 3,
    "wandb__enabled": False,
    "progress": False,
    "early_stopping": None,
    "hidden": 8,
    "layers": 2,
}
_MODEL_OPTIONS = ("hidden", "layers")


def tiny_fit(
    run_dir: str | os.PathLike,
    *,
    epochs: int = 1,
    events: int = 4,
    resume: bool = False,
    data: Any = None,
    **overrides: Any,
) -> Fitted:
    """Train on :func:`~emberxr.testing.synthetic_events` with the small settings :data:`TINY_FIT`.

    Parameters
    ----------
    run_dir
        Where checkpoints go.
    epochs
        Epochs to train (with ``resume``, the total including those already done).
    events
        Number of synthetic events (``emberxr.fit`` splits them into train/val).
    resume
        Continue from ``run_dir/last.pt`` when it exists.
    data
        Train on this instead of the synthetic events (anything ``emberxr.fit`` accepts, e.g.
        the path of an event store written with ``emberxr.save_events``).
    **overrides
        Settings replacing those of :data:`TINY_FIT` (any keyword ``emberxr.fit`` takes).

    Returns
    -------
    emberxr.Fitted
    """
    from emberxr.api import fit

    from .events import synthetic_events

    settings = dict(TINY_FIT)
    if overrides.get("model", settings["model"]) != settings["model"]:
        for key in _MODEL_OPTIONS:
            settings.pop(key)
    settings.update(overrides)
    source = synthetic_events(events) if data is None else data
    return fit(source, run_dir=run_dir, epochs=epochs, resume=resume, **settings)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m emberxr.testing.training RUN_DIR EPOCHS [--resume]``: run :func:`tiny_fit`."""
    parser = argparse.ArgumentParser(
        prog="python -m emberxr.testing.training",
        description="Train conv2d on synthetic events with the tiny settings of emberxr.testing.TINY_FIT.",
    )
    parser.add_argument("run_dir", help="where checkpoints go")
    parser.add_argument("epochs", type=int, help="epochs to train")
    parser.add_argument("--events", type=int, default=4, help="number of synthetic events (default 4)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--data", help="train on this (e.g. an event store) instead of synthetic events")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of TINY_FIT or any fit keyword (YAML value), e.g. --set preload=false",
    )
    args = parser.parse_args(argv)
    import torch
    import yaml

    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--set {item!r} is not KEY=VALUE")
        overrides[key] = yaml.safe_load(value)
    torch.set_num_threads(args.threads)
    tiny_fit(
        args.run_dir, epochs=args.epochs, events=args.events, resume=args.resume, data=args.data, **overrides
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
