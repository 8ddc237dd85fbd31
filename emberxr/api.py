"""One API for every model: ``fit`` → :class:`Fitted` (``evaluate``, ``predict``, ``save``) and ``load``.

>>> import emberxr
>>> fitted = emberxr.fit("sim-small", model="unets", epochs=2)          # doctest: +SKIP
>>> table = fitted.evaluate("sim-small")                                 # doctest: +SKIP
>>> prob = fitted.predict(event, horizon=3)                              # doctest: +SKIP
>>> prob.rio.to_raster("forecast.tif")                                   # doctest: +SKIP
>>> fitted.save("model.pt"); again = emberxr.load("model.pt")           # doctest: +SKIP

``data`` may be one FireEvent, a list or DataTree of events, a catalog name or path (``"sim-small"``),
an event store path (zarr), a raw event folder or any path a registered reader opens, or a split
dict ``{"train": ..., "val": ..., "test": ...}`` (:func:`emberxr.data.sources.resolve_splits`). A
collection without splits is split by event (about 80 % train, 20 % validation, deterministic).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from emberxr.errors import ThresholdNotSetError


def fit(
    data: Any = None,
    model: str | None = "emberformer",
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    *,
    resume: bool = False,
    run_dir: str | os.PathLike | None = None,
    sweep: bool = True,
    callbacks: Any = (),
    **overrides: Any,
) -> Fitted:
    """Train a model and return it, ready to evaluate and predict.

    Parameters
    ----------
    data
        Anything :func:`emberxr.data.sources.resolve_splits` accepts (events, a catalog, an event
        store, a raw folder, a reader plugin's path, a split dict). None uses ``data.catalog``
        from the configuration.
    model
        Registry name (``emberxr.list_models()``); None keeps ``model.name`` of the configuration.
    config
        YAML path, mapping, or None (defaults).
    resume
        Continue from ``run_dir/last.pt`` (the last complete epoch) when it exists; needs
        ``run_dir`` or ``training.run_name``.
    run_dir
        Where checkpoints go (default ``training.output_dir / training.run_name``, or a new
        ``training.output_dir / <model>-<timestamp>``: a second run never overwrites the first).
    sweep
        Apply parameters a W&B sweep injected into the run config.
    callbacks
        Per-epoch hooks ``callback(epoch, metrics) -> stop`` (:class:`emberxr.train.loop.Trainer`).
    **overrides
        Configuration values by leaf name (``epochs=3``, ``d_model=128``) or dotted path with
        ``__`` (``training__epochs=3``).

    Returns
    -------
    Fitted
        The best epoch's weights with the threshold that maximises next-mask F1 on validation.
    """
    import torch

    from emberxr.data.loaders import training_loaders
    from emberxr.data.samples import check_target_kind
    from emberxr.data.sources import SPLITS, resolve_splits
    from emberxr.normalize import compute_stats
    from emberxr.train.config import build_config
    from emberxr.train.distributed import cleanup, init_distributed
    from emberxr.train.evaluate import restore_best
    from emberxr.train.loop import Trainer, seed_everything
    from emberxr.train.loss import build_loss
    from emberxr.train.model_config import build_model
    from emberxr.train.runs import discard_if_empty, run_directory
    from emberxr.train.wandb_utils import WandbLogger

    cfg = build_config(model, config, overrides)
    tr = cfg["training"]
    if tr["num_threads"]:
        torch.set_num_threads(int(tr["num_threads"]))
    dist = init_distributed(tr["device"])
    logger, created = None, False
    try:
        name = cfg["model"]["name"]
        rdir, created = run_directory(
            tr["output_dir"], name, run_name=tr["run_name"], run_dir=run_dir, resume=resume, dist=dist
        )
        logger = WandbLogger(
            cfg, context={"world_size": dist.world_size}, enabled=dist.is_main, directory=rdir
        )
        if sweep and (injected := logger.sweep_overrides()):
            cfg = logger.cfg = build_config(None, cfg, injected)
            tr, name = cfg["training"], cfg["model"]["name"]
        seed_everything(tr["seed"])
        source = data if data is not None else cfg["data"]["catalog"]
        splits = resolve_splits(source, allowed=SPLITS, required=("train",))
        check_target_kind([ev for part in splits.values() for ev in part], cfg["data"]["target"])
        stats = compute_stats(splits["train"], progress=tr["progress"])
        net = build_model(cfg, stats)
        train, val = splits["train"], splits.get("val") or splits["train"]
        train_loader, val_loader, sampler = training_loaders(
            train, val, stats, cfg, net, dist.rank, dist.world_size
        )
        loss_fn = build_loss(tr, train)
        pw = loss_fn.pos_weight
        extra = {"model_name": name, "norm_stats": stats.to_dict(), "pos_weight": pw}
        trainer = Trainer(net, cfg, rdir, extra, dist=dist, logger=logger, callbacks=callbacks)
        result = trainer.fit(train_loader, val_loader, loss_fn, train_sampler=sampler, resume=resume)
        best, threshold, val_metrics = restore_best(net, result["best_path"], val_loader, cfg, dist)
        run = {"train_seconds": float(result["seconds"]), "steps": int(result["steps"])}
        fitted = Fitted(
            net, name, cfg, stats, threshold, result["history"], rdir, val_metrics, best.epoch, pw
        )
        fitted.train_seconds, fitted.steps, fitted.calibration = *run.values(), best.calibration
        if dist.is_main:
            fitted.save(rdir / "model.pt")
            logger.summary({"threshold": threshold, "best_epoch": result["best_epoch"], **run})
        return fitted
    finally:
        if logger is not None:
            logger.finish()
        if created and dist.is_main:
            discard_if_empty(rdir)
        cleanup(dist)


@dataclass(eq=False, repr=False)
class Fitted:
    """A trained model with everything needed to use it on new data.

    Attributes
    ----------
    model
        The torch module (CPU, eval mode).
    model_name, config
        Registry name and the full training configuration.
    stats
        ``NormStats`` of the training data.
    threshold
        Probability threshold chosen on validation (max F1 of the next fire mask), or None when
        it was never chosen (a ``best.pt`` / ``last.pt`` saved during training): see
        :meth:`choose_threshold`.
    calibration
        Probability calibration fitted on validation (:mod:`emberxr.products.calibration`) or None.
    history, metrics, epoch, pos_weight, train_seconds, steps
        Per-epoch metrics of the training run, validation metrics of these weights, their epoch,
        the BCE positive weight, training wall time and optimisation steps.
    run_dir
        The run directory (or the folder of the loaded checkpoint).
    """

    model: Any
    model_name: str
    config: dict[str, Any]
    stats: Any
    threshold: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    run_dir: Path | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    epoch: int = 0
    pos_weight: float | None = None
    train_seconds: float | None = None
    steps: int | None = None
    calibration: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.model = self.model.eval()
        self.config = dict(self.config)
        self.threshold = None if self.threshold is None else float(self.threshold)
        self.history = [dict(h) for h in self.history]
        self.metrics = dict(self.metrics)
        self.epoch = int(self.epoch)

    @property
    def band_names(self) -> list[str]:
        """Static bands the model expects (names and order)."""
        return list(self.stats.band_names)

    def __repr__(self) -> str:
        thr = "None" if self.threshold is None else f"{self.threshold:.3f}"
        return (
            f"Fitted(model={self.model_name!r}, bands={self.band_names}, threshold={thr}, epoch={self.epoch})"
        )

    @classmethod
    def from_record(cls, record: Any, run_dir: Path | None = None) -> Fitted:
        """The fitted model a :class:`~emberxr.train.checkpoint.CheckpointRecord` describes."""
        kw = {k: getattr(record, k) for k in _RECORD_FIELDS}
        net, cfg = record.build_model(), record.training_config()
        return cls(net, record.model_name, cfg, record.stats(), run_dir=run_dir, **kw)

    def record(self) -> Any:
        """This model as a :class:`~emberxr.train.checkpoint.CheckpointRecord`."""
        from emberxr.train.checkpoint import CheckpointRecord

        kw = {k: getattr(self, k) for k in _RECORD_FIELDS}
        stats = self.stats.to_dict()
        return CheckpointRecord.of(
            self.model, model_name=self.model_name, norm_stats=stats, config=self.config, **kw
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the one-file checkpoint (weights, config, stats, bands, threshold, version)."""
        return self.record().save(path)

    def check_event(self, event: xr.Dataset) -> None:
        """Raise :class:`CheckpointError` when the event's static bands differ from the model's."""
        from emberxr.train.checkpoint import check_event_bands

        check_event_bands(self.band_names, event)

    def _events(self, data: Any, split: str) -> list[xr.Dataset]:
        from emberxr.data.sources import resolve_split

        events = resolve_split(data, split)
        for ev in events:
            self.check_event(ev)
        return events

    # -- threshold and evaluation --------------------------------------------------------------
    def choose_threshold(self, data: Any, split: str = "val", progress: bool = False) -> float:
        """Choose (and keep) the threshold with the best next-mask F1 on ``data``.

        The same computation as at the end of :func:`fit` (on at most ``data.max_val_samples``
        samples): on the data ``fit`` validated on, it gives the same threshold. ``data`` and
        ``split`` are read as in :meth:`evaluate`; ``metrics[f"{split}/ap"]`` and
        ``metrics[f"{split}/best_f1"]`` are updated. Call :meth:`save` to keep it.
        """
        from emberxr.data.loaders import validation_loader
        from emberxr.train.evaluate import choose_threshold

        loader = validation_loader(self._events(data, split), self.stats, self.config, self.model)
        target = self.config["data"].get("target", "cumulative")
        self.threshold, chosen = choose_threshold(
            self.model, loader, progress, target=target, calibrator=self.calibration
        )
        self.metrics.update({f"{split}/{k}": v for k, v in chosen.items()})
        return self.threshold

    def evaluate(self, data: Any, split: str = "test", **options: Any) -> Any:
        """Metrics on ``data`` as a tidy :class:`pandas.DataFrame`.

        Parameters
        ----------
        data
            Anything :func:`fit` accepts.
        split
            Which split of a catalog or split dict to evaluate. Data without splits (events, an
            event store or folder) is evaluated whole, except that ``"train"`` / ``"val"`` pick
            the part :func:`fit` trained / validated on (:func:`emberxr.data.sources.resolve_split`).
        **options
            Passed to :func:`emberxr.train.evaluate.evaluate_events` (``output`` path for the
            table, ``per_event``, ``batch_size``, ``progress`` ...).

        Returns
        -------
        pandas.DataFrame
            Columns ``model, target (next|new), scope (all|history|event), group, threshold,
            precision, recall, f1, iou, ap, n_samples, n_pixels, n_positive``.

        Raises
        ------
        ThresholdNotSetError
            The threshold was never chosen (see :meth:`choose_threshold`).
        """
        from emberxr.train.evaluate import evaluate_events

        if self.threshold is None:
            raise ThresholdNotSetError("the evaluation table (precision, recall, F1, IoU)", repr(self))
        evs = self._events(data, split)
        options.setdefault("calibrator", self.calibration)
        return evaluate_events(
            self.model, evs, self.stats, self.config, self.threshold, self.model_name, **options
        )

    # -- predict -------------------------------------------------------------------------------
    def forecast(
        self, event: xr.Dataset, t: int | None = None, horizon: int = 1, **options: Any
    ) -> xr.Dataset:
        """Probability, binary mask and arrival time as a Dataset (see :mod:`emberxr.forecast`).

        Without a threshold only a one-step ``probability`` is made (else
        :class:`~emberxr.errors.ThresholdNotSetError`). ``options`` go to
        :func:`emberxr.forecast.forecast` through :func:`emberxr.forecast.forecast_from` (``device``
        — default: the training device when this machine has it —, ``progress``, ``members`` ...).
        """
        from emberxr.forecast import forecast_from

        return forecast_from(self, event, t, horizon, **options)

    def predict(
        self, event: xr.Dataset, t: int | None = None, horizon: int = 1, **options: Any
    ) -> xr.DataArray:
        """Fire probability on the event's grid.

        Parameters
        ----------
        event
            FireEvent (zarr, raw reader, or in memory) with the model's static bands.
        t
            Last observed frame (default: the last one).
        horizon
            Steps ahead; > 1 rolls the model forward on its own thresholded forecasts (needs a
            threshold).
        **options
            Passed to :func:`emberxr.forecast.forecast` (see :meth:`forecast`).

        Returns
        -------
        xarray.DataArray
            ``(y, x)`` for ``horizon=1``, else ``(step, y, x)``; CRS and ``spatial_ref`` kept
            (``.rio.to_raster`` works). Coordinates ``fire_mask`` (the binary forecast at
            ``attrs["threshold"]``) and ``arrival_time`` (hours from the issue time; both absent
            without a threshold).
        """
        from emberxr.forecast import to_dataarray

        return to_dataarray(self.forecast(event, t, horizon, **options))


def load(path: str | os.PathLike) -> Fitted:
    """Load a checkpoint (``model.pt``, or a ``best.pt`` / ``last.pt`` of a run) with
    ``torch.load(weights_only=True)``.

    A checkpoint saved during training holds no threshold: the result's ``threshold`` is None
    (nothing is chosen silently) until :meth:`Fitted.choose_threshold` sets it.

    Raises
    ------
    CheckpointError
        Unreadable file, not an emberxr checkpoint, or weights that do not fit the model.
    """
    from emberxr.train.checkpoint import CheckpointRecord

    return Fitted.from_record(CheckpointRecord.load(path), run_dir=Path(path).parent)


# fields a Fitted shares with its CheckpointRecord under the same names
_RECORD_FIELDS = tuple("threshold calibration history metrics epoch pos_weight train_seconds steps".split())
