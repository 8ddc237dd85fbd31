"""Run directories: where one training run writes ``last.pt``, ``best.pt`` and ``model.pt``.

A new run gets ``training.output_dir/<model>-<YYYYmmdd-HHMMSS>`` (local time, a ``-2``, ``-3`` ...
suffix when that name exists), created at once so two runs started in the same second never
share a directory and a second run never overwrites the first. ``training.run_name`` or an
explicit ``run_dir`` names the directory instead (and may reuse it); resuming needs one of them,
since a fresh name has nothing to resume from.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Any

from emberxr.errors import ConfigError, Problem

__all__ = ["discard_if_empty", "new_run_dir", "run_directory"]


def new_run_dir(output_dir: str | os.PathLike, model_name: str, now: float | None = None) -> Path:
    """Create and return a fresh ``output_dir/<model_name>-<timestamp>[-k]`` directory.

    Parameters
    ----------
    output_dir
        Parent directory (created when missing).
    model_name
        First part of the name.
    now
        Seconds since the epoch (default: now).
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    base = Path(output_dir)
    base.mkdir(parents=True, exist_ok=True)
    for k in itertools.count(1):
        path = base / (f"{model_name}-{stamp}" if k == 1 else f"{model_name}-{stamp}-{k}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise AssertionError("unreachable")  # pragma: no cover


def run_directory(
    output_dir: str | os.PathLike,
    model_name: str,
    *,
    run_name: str | None = None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    dist: Any = None,
) -> tuple[Path, bool]:
    """The directory of a run, and whether it was just created for it.

    ``run_dir`` wins, then ``output_dir/run_name``; otherwise :func:`new_run_dir` (made on DDP
    rank 0 and broadcast, so every rank uses the same one).

    Raises
    ------
    ConfigError
        ``resume`` without ``run_dir`` or ``run_name``.
    """
    if run_dir is not None:
        return Path(run_dir), False
    if run_name:
        return Path(output_dir) / run_name, False
    if resume:
        raise ConfigError(
            [
                Problem(
                    "resume=True, but no run to resume is named",
                    "pass the run's directory (run_dir=..., CLI --run-dir) or set training.run_name; "
                    "without a name every run starts in a new <model>-<timestamp> directory",
                )
            ],
            subject="fit",
        )
    path = None
    if dist is None or dist.is_main:
        path = str(new_run_dir(output_dir, model_name))
    if dist is not None and dist.enabled:
        from emberxr.train.distributed import broadcast_object

        path = broadcast_object(path, dist)
    return Path(path), True


def discard_if_empty(path: Path) -> None:
    """Remove a run directory that nothing was written to (a run that failed before training)."""
    try:
        path.rmdir()  # only succeeds on an empty directory
    except OSError:
        pass
