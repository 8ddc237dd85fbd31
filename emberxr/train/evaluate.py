"""Scoring a trained model on events: the metrics table and the choice of its threshold.

:func:`choose_threshold` is the one place a probability threshold is chosen: the threshold that
maximises the F1 of the next fire mask over the given samples. :func:`emberxr.fit` runs it on
the validation loader at the end of training, :meth:`emberxr.Fitted.choose_threshold` (and
``emberxr evaluate --choose-threshold``) on the data it is given, through the same loader
(:func:`emberxr.data.loaders.validation_loader`), so both choose the same threshold on the same
data. :func:`evaluate_events` makes the tidy table of :meth:`emberxr.Fitted.evaluate`; with
``by="regime"`` it adds rows pooled over the events of each regime bin (:func:`regime_bins`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from torch import nn

from emberxr.errors import ConfigError, Problem

__all__ = [
    "BY_CHOICES",
    "REGIME_BINS",
    "choose_threshold",
    "evaluate_events",
    "event_id_of",
    "regime_bins",
    "restore_best",
]

#: groupings ``evaluate_events(by=...)`` adds to the table
BY_CHOICES = ("regime",)
#: the regime bins: event attribute -> (short name, how it is binned). Numbers are binned by the
#: fixed edges given (the last bin open-ended) or, for ``"quartiles"``, by the quartiles of the
#: evaluated events' values; text attributes are their own bins.
REGIME_BINS: dict[str, tuple[str, tuple[float, ...] | str | None]] = {
    "regime_wind_kmh": ("wind_kmh", (0.0, 10.0, 20.0, 30.0, 40.0)),
    "regime_dead_fm_pct": ("dead_fm_pct", "quartiles"),
    "regime_style": ("style", None),
    "regime_terrain": ("terrain", None),
    "regime_ignition": ("ignition", None),
}


def choose_threshold(
    model: nn.Module,
    loader: Any,
    progress: bool = False,
    dist: Any = None,
    target: str = "cumulative",
    calibrator: Any = None,
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
    target
        The target kind (``data.target``); the threshold maximises the F1 of the next mask either way.
    calibrator
        The model's probability calibration (:mod:`emberxr.products.calibration`), if any: the
        threshold is then chosen on calibrated probabilities.

    Returns
    -------
    (threshold, metrics)
        The threshold, and the next-mask ``ap`` and ``best_f1`` (the F1 at that threshold).
    """
    from emberxr.products.calibration import with_calibration
    from emberxr.train.loop import evaluate_model

    net = with_calibration(model, calibrator)
    acc, _ = evaluate_model(
        net,
        loader,
        0.5,
        "cpu",
        per_event=False,
        progress=progress,
        dist=dist,
        desc="threshold",
        target=target,
    )
    res = acc.result("next")
    return float(res["best_threshold"]), {k: float(res[k]) for k in ("ap", "best_f1")}


def restore_best(
    model: nn.Module,
    best_path: str | os.PathLike,
    val_loader: Any,
    config: Mapping[str, Any],
    dist: Any = None,
) -> tuple[Any, float | None, dict[str, float]]:
    """Load a run's best weights into ``model`` (moved to CPU) and choose their threshold.

    ``config`` is the run's validated configuration: ``data.target`` (the target kind),
    ``training.calibrate`` and ``training.progress`` are read from it.

    The threshold is chosen on ``val_loader`` (:func:`choose_threshold`); under DDP every rank
    scores its share and the counts are summed, so all ranks agree. With ``calibrate``
    (``temperature`` / ``isotonic``) a calibration is first fitted on ``val_loader`` (by the main
    rank, sent to the others), stored in the record's ``calibration``, and the threshold chosen on
    calibrated probabilities (:mod:`emberxr.products.calibration`).

    Returns
    -------
    (record, threshold, metrics)
        The best checkpoint's :class:`~emberxr.train.checkpoint.CheckpointRecord`, the threshold,
        and its validation metrics with ``val/ap`` and ``val/best_f1`` of the threshold pass.
    """
    from emberxr.train.checkpoint import CheckpointRecord

    target, calibrate = config["data"].get("target", "cumulative"), config["training"]["calibrate"]
    progress = bool(config["training"]["progress"])
    best = CheckpointRecord.load(best_path)
    model.load_state_dict(best.state_dict)
    model.to("cpu")
    metrics = dict(best.metrics)
    if calibrate != "none":
        from emberxr.products.calibration import fit_calibration
        from emberxr.train.distributed import broadcast_object

        main = dist is None or dist.is_main
        cal = fit_calibration(model, val_loader, calibrate, progress=progress) if main else None
        best.calibration = cal if dist is None else broadcast_object(cal, dist)
    threshold, chosen = choose_threshold(
        model, val_loader, progress=progress, dist=dist, target=target, calibrator=best.calibration
    )
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
    by: str | None = None,
    calibrator: Mapping[str, Any] | None = None,
    calibration: bool = False,
    calibration_dir: str | os.PathLike | None = None,
    ece_bins: int = 15,
    ece_binning: str = "width",
    perimeters: bool = False,
    perimeter_horizon: int = 1,
    device: Any = None,
    amp: bool = False,
) -> Any:
    """Metrics of ``model`` on every sample of ``events`` as a tidy DataFrame.

    Parameters
    ----------
    model, stats, config
        The trained model, its ``NormStats`` and its training configuration (the samples are
        made as in training: history cap, patch size, tokens; ``data.target`` decides whether the
        new-burn rows are scored: cumulative targets only).
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
    by
        ``"regime"``: add rows of scope ``regime``, one per regime bin (:func:`regime_bins`), each
        pooled exactly over the samples of the events in that bin (not an average of events).
        Events without the ``regime_*`` attributes of the simulator are not binned.
    calibrator
        The model's probability calibration (``Fitted.calibration``): every metric is then of
        calibrated probabilities.
    calibration, calibration_dir, ece_bins, ece_binning
        Add the expected calibration error (column ``ece``; ``ece_bins`` bins of ``ece_binning``
        ``width`` or ``mass``); with ``calibration_dir`` also write ``reliability.png`` and
        ``calibration_bins.csv`` there (:mod:`emberxr.products.calibration`).
    perimeters, perimeter_horizon
        Add perimeter scores per forecast step 1..``perimeter_horizon`` (rows with target
        ``perimeter``; :func:`emberxr.products.scoring.perimeter_table`).
    device
        Where the model runs (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"``); None:
        the training device of ``config`` when this machine has it, else the CPU
        (:func:`emberxr.inference.training_device`). The model is moved back afterwards.
    amp
        Run the model in mixed precision (bfloat16 on the CPU, float16 on CUDA;
        :class:`emberxr.inference.TorchRunner`): what to compare with the float32 table before
        forecasting with ``amp``.

    Returns
    -------
    pandas.DataFrame
        See :meth:`emberxr.Fitted.evaluate`.

    Raises
    ------
    ConfigError
        An unknown ``by``, or ``by="regime"`` on binned events that share an event id.
    """
    from emberxr.data.loaders import build_dataset, build_loader
    from emberxr.inference import TorchRunner, training_device
    from emberxr.products.calibration import with_calibration
    from emberxr.train.loop import evaluate_model
    from emberxr.train.metrics import write_table

    bins = _bins_by(by, events)
    ds = build_dataset(events, stats, config, model, train=False)
    loader = build_loader(ds, config, batch_size=batch_size)
    target = config["data"].get("target", "cumulative")
    device = device or training_device(config)
    with TorchRunner(model, device, amp=amp) as run, run.precision():  # on the device, restored after
        acc, _ = evaluate_model(
            with_calibration(model, calibrator),
            loader,
            threshold,
            run.device,
            per_event=per_event or bool(bins),
            progress=progress,
            target=target,
        )
    for label, ids in bins.items():
        acc.pool("regime", label, [("event", i) for i in ids])
    df = acc.table(model=model_name)
    if calibration or calibration_dir is not None:
        from emberxr.products.calibration import calibration_report

        df = calibration_report(acc, df, ece_bins, ece_binning, calibration_dir, title=model_name)
    if perimeters:
        from emberxr.products.scoring import perimeter_table

        kw = {
            "horizon": perimeter_horizon,
            "calibrator": calibrator,
            "progress": progress,
            "device": device,
            "amp": amp,
        }
        df = perimeter_table(model, events, stats, config, threshold, model_name, table=df, **kw)
    if not per_event:
        df = df[df["scope"] != "event"].reset_index(drop=True)
    if output is not None:
        write_table(df, str(output))
    return df


def _bins_by(by: str | None, events: Sequence[xr.Dataset]) -> dict[str, list[str]]:
    if by is None:
        return {}
    if by not in BY_CHOICES:
        raise ConfigError(
            [Problem(f"by={by!r} is not a grouping", f"use one of {', '.join(BY_CHOICES)} (or None)")],
            subject="evaluate",
        )
    return regime_bins(events)


def event_id_of(ev: xr.Dataset, index: int) -> str:
    """The id the sample datasets give the samples of ``ev``, the ``index``-th event of a list
    (its ``event_id`` attribute, else ``event-<index>``; see :mod:`emberxr.data.datasets`)."""
    return str(ev.attrs.get("event_id", f"event-{index}"))


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def regime_bins(events: Sequence[xr.Dataset]) -> dict[str, list[str]]:
    """The regime bins of ``events``: label -> ids of the events in the bin.

    Bins follow :data:`REGIME_BINS`, over the scalar event attributes the simulator writes
    (``docs/dataset.md``): mean wind ``regime_wind_kmh`` by fixed edges (``wind_kmh=0-10``,
    ``10-20``, ``20-30``, ``30-40``, ``40+`` km/h), 1-h dead fuel moisture ``regime_dead_fm_pct``
    by the quartiles of these events (``dead_fm_pct=Q1 2.1-4.3``: quartile and value range in %),
    and ``regime_style``, ``regime_terrain``, ``regime_ignition`` by value (``style=timber``). An
    event lacking an attribute (or with a missing / non-finite value) is left out of that
    attribute's bins; events without any ``regime_*`` attribute give no bins. Labels come in the
    order of :data:`REGIME_BINS`, then by bin.

    Raises
    ------
    ConfigError
        Two binned events share an event id (their samples could not be told apart).
    """
    ids = [event_id_of(ev, i) for i, ev in enumerate(events)]
    out: dict[str, list[str]] = {}
    binned: set[str] = set()
    for attr, (short, rule) in REGIME_BINS.items():
        values = {eid: ev.attrs[attr] for eid, ev in zip(ids, events) if attr in ev.attrs}
        if rule is None:
            found = {eid: v.strip() for eid, v in values.items() if isinstance(v, str) and v.strip()}
            for label in sorted(set(found.values())):
                out[f"{short}={label}"] = [eid for eid, v in found.items() if v == label]
        else:
            nums = {eid: x for eid, v in values.items() if (x := _number(v)) is not None}
            for label, members in _numeric_bins(nums, rule).items():
                out[f"{short}={label}"] = members
        binned |= set(values)
    dupes = sorted({i for i in ids if i in binned and ids.count(i) > 1})
    if dupes:
        raise ConfigError(
            [
                Problem(
                    f"events share the event id(s) {', '.join(dupes[:5])}",
                    "give every event its own event_id attribute to evaluate by regime",
                )
            ],
            subject="evaluate",
        )
    return out


def _numeric_bins(values: Mapping[str, float], rule: tuple[float, ...] | str) -> dict[str, list[str]]:
    """Bin labels -> members for numbers, by fixed edges or by quartiles of ``values``."""
    if not values:
        return {}
    x = np.array(list(values.values()), dtype=float)
    if rule == "quartiles":
        edges = np.unique(np.quantile(x, [0.25, 0.5, 0.75]))
        which = np.searchsorted(edges, x, side="left")  # Q1: values <= the first quartile
        labels = {}
        for q in np.unique(which):
            inside = x[which == q]
            lo, hi = _fmt(inside.min()), _fmt(inside.max())
            labels[int(q)] = f"Q{int(q) + 1} {lo}" + (f"-{hi}" if hi != lo else "")
    else:
        edges = np.asarray(rule, dtype=float)
        which = np.searchsorted(edges, x, side="right") - 1  # [edge_i, edge_i+1)
        labels = {}
        for k in np.unique(which):
            k = int(k)
            if k < 0:
                labels[k] = f"<{_fmt(edges[0])}"
            elif k == len(edges) - 1:
                labels[k] = f"{_fmt(edges[-1])}+"
            else:
                labels[k] = f"{_fmt(edges[k])}-{_fmt(edges[k + 1])}"
    ids = list(values)
    return {labels[k]: [ids[i] for i in np.flatnonzero(which == k)] for k in sorted(labels)}
