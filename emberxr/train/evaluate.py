"""Scoring a trained model on events: the metrics table and the choice of its threshold.

:func:`choose_threshold` is the one place a probability threshold is chosen: the threshold that
maximises the F1 of the next fire mask over the given samples. :func:`emberxr.fit` runs it on
the validation loader at the end of training, :meth:`emberxr.Fitted.choose_threshold` (and
``emberxr evaluate --choose-threshold``) on the data it is given, through the same loader
(:func:`emberxr.data.loaders.validation_loader`), so both choose the same threshold on the same
data. :func:`evaluate_events` makes the tidy table of :meth:`emberxr.Fitted.evaluate`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import xarray as xr
from torch import nn

__all__ = ["choose_threshold", "evaluate_events", "restore_best"]


def choose_threshold(
    model: nn.Module, loader: Any, progress: bool = False, dist: Any = None
) -> tuple[float, dict[str, float]]:
    """The probability threshold with the best next-mask F1 over ``loader``'s samples.

    Parameters
    ----------
    model
        Trained model (run on CPU).
    loader
        Batches of validation samples.
    progress
        Show a progress bar.
    dist
        Under DDP, every rank scores its share of the samples and the counts are summed, so every
        rank gets the same threshold (all ranks must call this).

    Returns
    -------
    (threshold, metrics)
        The threshold, and the next-mask ``ap`` and ``best_f1`` (the F1 at that threshold).
    """
    from emberxr.train.loop import evaluate_model

    acc, _ = evaluate_model(
        model, loader, 0.5, "cpu", per_event=False, progress=progress, dist=dist, desc="threshold"
    )
    res = acc.result("next")
    return float(res["best_threshold"]), {k: float(res[k]) for k in ("ap", "best_f1")}


def restore_best(
    model: nn.Module,
    best_path: str | os.PathLike,
    val_loader: Any,
    dist: Any = None,
    progress: bool = False,
) -> tuple[Any, float | None, dict[str, float]]:
    """Load a run's best weights into ``model`` (moved to CPU) and choose their threshold.

    The threshold is chosen on ``val_loader`` (:func:`choose_threshold`); under DDP every rank
    scores its share and the counts are summed, so all ranks agree.

    Returns
    -------
    (record, threshold, metrics)
        The best checkpoint's :class:`~emberxr.train.checkpoint.CheckpointRecord`, the threshold,
        and its validation metrics with ``val/ap`` and ``val/best_f1`` of the threshold pass.
    """
    from emberxr.train.checkpoint import CheckpointRecord

    best = CheckpointRecord.load(best_path)
    model.load_state_dict(best.state_dict)
    model.to("cpu")
    metrics = dict(best.metrics)
    threshold, chosen = choose_threshold(model, val_loader, progress=progress, dist=dist)
    metrics.update({f"val/{k}": v for k, v in chosen.items()})
    return best, threshold, metrics


def evaluate_events(
    model: nn.Module,
    events: Sequence[xr.Dataset],
    stats: Any,
    config: Mapping[str, Any],
    threshold: float,
    model_name: str,
    *,
    per_event: bool = True,
    batch_size: int | None = None,
    progress: bool = False,
    output: str | os.PathLike | None = None,
    device: Any = None,
) -> Any:
    """Metrics of ``model`` on every sample of ``events`` as a tidy DataFrame.

    Parameters
    ----------
    model, stats, config
        The trained model, its ``NormStats`` and its training configuration (the samples are
        made as in training: history cap, patch size, tokens).
    threshold
        Probability threshold of precision / recall / F1 / IoU.
    model_name
        Value of the ``model`` column.
    per_event
        Include one row per event and target.
    batch_size
        Batch size (default: the configuration's).
    output
        Also write the table: ``.csv`` as CSV, anything else as markdown.
    device
        Where the model runs (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"``); None:
        the training device of ``config`` when this machine has it, else the CPU
        (:func:`emberxr.inference.training_device`). The model is moved back afterwards.

    Returns
    -------
    pandas.DataFrame
        See :meth:`emberxr.Fitted.evaluate`.
    """
    from emberxr.data.loaders import build_dataset, build_loader
    from emberxr.inference import TorchRunner, training_device
    from emberxr.train.loop import evaluate_model
    from emberxr.train.metrics import write_table

    ds = build_dataset(events, stats, config, model, train=False)
    loader = build_loader(ds, config, batch_size=batch_size)
    with TorchRunner(model, device or training_device(config)) as run:  # on the device, restored after
        acc, _ = evaluate_model(model, loader, threshold, run.device, per_event=per_event, progress=progress)
    df = acc.table(model=model_name)
    if output is not None:
        write_table(df, str(output))
    return df
