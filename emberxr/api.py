"""One API for every model: ``fit`` → :class:`Fitted` (``evaluate``, ``predict``, ``save``) and ``load``.

>>> import emberxr
>>> fitted = emberxr.fit("sim-small", model="unets", epochs=2)          # doctest: +SKIP
>>> table = fitted.evaluate("sim-small")                                 # doctest: +SKIP
>>> prob = fitted.predict(event, horizon=3)                              # doctest: +SKIP
>>> prob.rio.to_raster("forecast.tif")                                   # doctest: +SKIP
>>> fitted.save("model.pt"); again = emberxr.load("model.pt")           # doctest: +SKIP

``data`` may be one FireEvent, a list or DataTree of events, a catalog name or path (``"sim-small"``),
an event store path (zarr), or a split dict ``{"train": ..., "val": ..., "test": ...}``. A single
collection without splits is split by event (about 80 % train, 20 % validation, deterministic).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from emberxr.errors import CheckpointError, ConfigError, EmberxrError, Problem

SPLITS = ("train", "val", "test")


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------
def _event_list(obj: Any) -> list[xr.Dataset]:
    from emberxr.data.datasets import as_event_list

    if isinstance(obj, (str, os.PathLike)):
        splits = resolve_data(obj)
        return [e for s in SPLITS for e in splits.get(s, [])]
    return as_event_list(obj)


def resolve_data(data: Any) -> dict[str, list[xr.Dataset]]:
    """Turn any accepted ``data`` into ``{split: [events]}``.

    Raises
    ------
    EmberxrError
        Unrecognised input, or an empty collection.
    """
    if isinstance(data, Mapping) and not isinstance(data, xr.Dataset):
        unknown = [k for k in data if k not in SPLITS]
        if unknown:
            raise ConfigError(
                [Problem(f"unknown split(s) {unknown}", f"use keys among {', '.join(SPLITS)}")],
                subject="data",
            )
        return {k: _event_list(v) for k, v in data.items()}
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        is_store = path.exists() and (
            path.suffix == ".zarr" or (path / "zarr.json").exists() or (path / ".zgroup").exists()
        )
        if not is_store:
            from emberxr.catalog import open_catalog

            cat = open_catalog(str(data))
            out = {}
            for split in SPLITS:
                try:
                    out[split] = list(cat.events(split))
                except (KeyError, EmberxrError):
                    continue
            if not out:
                raise ConfigError(
                    [
                        Problem(
                            f"catalog {str(data)!r} has no train/val/test split",
                            "declare splits in the catalog",
                        )
                    ],
                    subject="data",
                )
            return out
        from emberxr.io.events import iter_events, open_events

        events = list(iter_events(open_events(path)))
        return _split(events)
    return _split(_event_list(data))


def _split(events: list[xr.Dataset]) -> dict[str, list[xr.Dataset]]:
    if not events:
        raise ConfigError([Problem("no events given", "pass at least one FireEvent")], subject="data")
    if len(events) == 1:
        return {"train": events, "val": events}
    rng = np.random.default_rng(0)
    order = rng.permutation(len(events))
    n_val = max(1, round(0.2 * len(events)))
    val = sorted(order[:n_val].tolist())
    train = sorted(order[n_val:].tolist())
    return {"train": [events[i] for i in train], "val": [events[i] for i in val]}


def _subset(ds: Any, n: int | None, seed: int) -> Any:
    import torch

    if n is None or n >= len(ds):
        return ds
    idx = np.sort(np.random.default_rng(seed).choice(len(ds), size=n, replace=False))
    return torch.utils.data.Subset(ds, idx.tolist())


class _EpochSampler:
    """Shuffling sampler with per-epoch seeds that also advances the dataset's crop epoch; shards
    the data across DDP ranks (like ``DistributedSampler``)."""

    def __init__(self, n: int, seed: int, shuffle: bool, rank: int = 0, world: int = 1, dataset: Any = None):
        self.n, self.seed, self.shuffle, self.rank, self.world = n, seed, shuffle, rank, world
        self.epoch = 0
        self.dataset = dataset

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        base = getattr(self.dataset, "dataset", self.dataset)
        if hasattr(base, "set_epoch"):
            base.set_epoch(self.epoch)

    def __iter__(self) -> Any:
        idx = (
            np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
            if self.shuffle
            else np.arange(self.n)
        )
        per = -(-self.n // self.world)
        idx = np.resize(idx, per * self.world)  # pad by wrapping so every rank gets the same count
        return iter(idx[self.rank :: self.world].tolist())

    def __len__(self) -> int:
        return -(-self.n // self.world)


def _token_kwargs(model: Any) -> dict[str, Any]:
    """Whether ``model`` wants patch tokens, and how they are cut (its ``token_mode``)."""
    mc = getattr(model, "config", {}) or {}
    return {
        "tokens": bool(getattr(model.requires, "tokens", False)),
        "token_mode": mc.get("token_mode", "pixels") or "pixels",
    }


def _dataset(events: list[xr.Dataset], stats: Any, cfg: Mapping[str, Any], model: Any, train: bool) -> Any:
    from emberxr.data.datasets import FireSampleDataset

    d = cfg["data"]
    augment = None
    if train and d["augment"]:
        from emberxr.data.augment import Augment

        augment = Augment()
    return FireSampleDataset(
        events,
        stats,
        max_history=d["max_history"],
        patch_size=d["patch_size"],
        strict=d["strict"],
        tile_size=d["tile_size"] if train else None,
        train=train,
        augment=augment,
        **_token_kwargs(model),
        seed=cfg["training"]["seed"],
        preload=True,
        progress=cfg["training"]["progress"],
    )


def _loader(ds: Any, cfg: Mapping[str, Any], sampler: Any = None, batch_size: int | None = None) -> Any:
    import torch

    from emberxr.data.collate import temporal_collate

    return torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size or cfg["training"]["batch_size"],
        sampler=sampler,
        shuffle=False,
        collate_fn=temporal_collate,
        num_workers=cfg["data"]["num_workers"],
        drop_last=False,
    )


def pos_weight_from_events(events: Sequence[xr.Dataset], max_weight: float) -> float:
    """``negatives / positives`` of the next-frame targets of every sample, over valid pixels.

    Every frame after the first is the target of exactly one sample, whatever the history cap, so
    the count runs over frames ``1..T-1`` of each event.

    Parameters
    ----------
    events
        Training FireEvents (``fire`` and ``valid`` are read).
    max_weight
        Upper clip of the weight (see :func:`emberxr.train.loss.pos_weight_from_counts`).

    Returns
    -------
    float
        The BCE positive-class weight, in ``[1, max_weight]``.
    """
    from emberxr.train.loss import pos_weight_from_counts

    pos = neg = 0.0
    for ev in events:
        fire = np.asarray(ev["fire"].values[1:]) > 0
        valid = np.asarray(ev["valid"].values, bool)
        p = float((fire & valid).sum())
        pos += p
        neg += float(valid.sum()) * fire.shape[0] - p
    return pos_weight_from_counts(pos, neg, max_weight)


# ----------------------------------------------------------------------------------------------
# config from fit() keyword arguments
# ----------------------------------------------------------------------------------------------
def _kw_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    from emberxr.train.config import LEAVES, _close

    out, problems = {}, []
    for k, v in overrides.items():
        key = k.replace("__", ".")
        if key in LEAVES or key.split(".", 1)[0] in ("model", "data", "training", "train", "wandb"):
            out[key] = v
            continue
        hits = [p for p in LEAVES if p.rsplit(".", 1)[-1] == key]
        if len(hits) == 1:
            out[hits[0]] = v
        elif hits:
            problems.append(
                Problem(
                    f"keyword {k!r} is ambiguous ({', '.join(hits)})",
                    f"use the full dotted key with __, e.g. {hits[0].replace('.', '__')}",
                )
            )
        else:
            import difflib

            leaf_names = sorted({p.rsplit(".", 1)[-1] for p in LEAVES})
            near = difflib.get_close_matches(key, leaf_names, n=3, cutoff=0.6)
            paths = [p for n in near for p in LEAVES if p.rsplit(".", 1)[-1] == n]
            fix = (
                f"did you mean {', '.join(repr(n) for n in near)} ({', '.join(paths)})?"
                if near
                else _close(key)
            )
            problems.append(Problem(f"unknown keyword {k!r}", fix))
    if problems:
        raise ConfigError(problems)
    return out


def build_config(
    model: str | None, config: Any, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Configuration from a YAML path / mapping / None, a model name and keyword overrides."""
    from emberxr.train.config import apply_overrides, load_config

    cfg = load_config(config)
    if model is not None:
        cfg["model"]["name"] = model
    return apply_overrides(cfg, _kw_overrides(overrides or {}))


# ----------------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------------
def fit(
    data: Any = None,
    model: str | None = "emberformer",
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    *,
    resume: bool = False,
    run_dir: str | os.PathLike | None = None,
    sweep: bool = True,
    **overrides: Any,
) -> Fitted:
    """Train a model and return it, ready to evaluate and predict.

    Parameters
    ----------
    data
        A FireEvent, a list/DataTree of events, a catalog name/path, an event store path, or a split
        dict. None uses ``data.catalog`` from the configuration.
    model
        Registry name (``emberxr.list_models()``); None keeps ``model.name`` of the configuration.
    config
        YAML path, mapping, or None (defaults).
    resume
        Continue from ``run_dir/last.pt`` (the last complete epoch) when it exists.
    run_dir
        Where checkpoints go (default ``training.output_dir / (training.run_name or model)``).
    sweep
        Apply parameters a W&B sweep injected into the run config.
    **overrides
        Configuration values by leaf name (``epochs=3``, ``d_model=128``) or dotted path with
        ``__`` (``training__epochs=3``).

    Returns
    -------
    Fitted
    """
    import torch

    from emberxr.models.registry import create_model, get_model_class
    from emberxr.normalize import compute_stats
    from emberxr.train.checkpoint import load_checkpoint
    from emberxr.train.config import apply_overrides, model_kwargs
    from emberxr.train.distributed import cleanup, init_distributed
    from emberxr.train.loop import Trainer, evaluate_model, seed_everything
    from emberxr.train.loss import FireLoss
    from emberxr.train.wandb_utils import WandbLogger

    cfg = build_config(model, config, overrides)
    tr = cfg["training"]
    if tr["num_threads"]:
        torch.set_num_threads(int(tr["num_threads"]))
    dist = init_distributed(tr["device"])
    rdir = (
        Path(run_dir)
        if run_dir is not None
        else Path(tr["output_dir"]) / (tr["run_name"] or cfg["model"]["name"])
    )
    logger = WandbLogger(cfg, context={"world_size": dist.world_size}, enabled=dist.is_main, directory=rdir)
    if sweep:
        injected = logger.sweep_overrides()
        if injected:
            cfg = apply_overrides(cfg, injected)
            logger.cfg = cfg
            tr = cfg["training"]
    try:
        seed_everything(tr["seed"])
        splits = resolve_data(data if data is not None else cfg["data"]["catalog"])
        if "train" not in splits or not splits["train"]:
            raise ConfigError(
                [Problem("no training events", "give data with a 'train' split")], subject="fit"
            )
        val_events = splits.get("val") or splits["train"]
        stats = compute_stats(splits["train"], progress=tr["progress"])
        cls = get_model_class(cfg["model"]["name"])
        kwargs = model_kwargs(cfg, cls, stats.n_static)
        net = create_model(cfg["model"]["name"], **kwargs)
        name = cfg["model"]["name"]
        train_ds = _subset(
            _dataset(splits["train"], stats, cfg, net, train=True),
            cfg["data"]["max_train_samples"],
            tr["seed"],
        )
        val_ds = _subset(
            _dataset(val_events, stats, cfg, net, train=False), cfg["data"]["max_val_samples"], tr["seed"] + 1
        )
        sampler = _EpochSampler(len(train_ds), tr["seed"], True, dist.rank, dist.world_size, train_ds)
        train_loader = _loader(train_ds, cfg, sampler)
        val_loader = _loader(val_ds, cfg)
        pw = tr["pos_weight"]
        if pw == "auto":
            pw = pos_weight_from_events(splits["train"], tr["max_pos_weight"])
        loss_fn = FireLoss(float(pw), tr["bce_weight"], tr["dice_weight"])
        extra = {
            "model_name": name,
            "model_config": dict(net.config) if hasattr(net, "config") else kwargs,
            "norm_stats": stats.to_dict(),
            "band_names": list(stats.band_names),
            "data_config": dict(cfg["data"]),
            "pos_weight": float(pw),
        }
        trainer = Trainer(net, cfg, rdir, extra, dist=dist, logger=logger)
        result = trainer.fit(train_loader, val_loader, loss_fn, train_sampler=sampler, resume=resume)
        # best weights; threshold maximising next-mask F1 on validation
        best = load_checkpoint(result["best_path"])
        net.load_state_dict(best["state_dict"])
        net.to("cpu")
        val_metrics = dict(best.get("metrics", {}))
        acc, _ = evaluate_model(
            net, val_loader, 0.5, "cpu", per_event=False, progress=tr["progress"], dist=dist, desc="threshold"
        )
        threshold = float(acc.result("next")["best_threshold"])
        val_metrics.update({f"val/{k}": v for k, v in acc.result("next").items() if k in ("ap", "best_f1")})
        fitted = Fitted(
            net,
            name,
            cfg,
            stats,
            threshold=threshold,
            history=result["history"],
            run_dir=rdir,
            metrics=val_metrics,
            epoch=int(best.get("epoch", 0)),
            pos_weight=float(pw),
            train_seconds=float(result["seconds"]),
            steps=int(result["steps"]),
        )
        if dist.is_main:
            fitted.save(rdir / "model.pt")
            logger.summary(
                {
                    "threshold": threshold,
                    "best_epoch": result["best_epoch"],
                    "train_seconds": result["seconds"],
                }
            )
        return fitted
    finally:
        logger.finish()
        cleanup(dist)


# ----------------------------------------------------------------------------------------------
# the fitted model
# ----------------------------------------------------------------------------------------------
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
        Probability threshold chosen on validation (max F1 of the next fire mask).
    band_names
        Static bands the model expects (names and order).
    history
        Per-epoch metrics of the training run.
    """

    def __init__(
        self,
        model: Any,
        model_name: str,
        config: Mapping[str, Any],
        stats: Any,
        threshold: float = 0.5,
        history: Sequence[Mapping[str, Any]] = (),
        run_dir: Path | None = None,
        metrics: Mapping[str, float] | None = None,
        epoch: int = 0,
        pos_weight: float | None = None,
        train_seconds: float | None = None,
        steps: int | None = None,
    ):
        self.model = model.eval()
        self.model_name = model_name
        self.config = dict(config)
        self.stats = stats
        self.threshold = float(threshold)
        self.band_names = list(stats.band_names)
        self.history = [dict(h) for h in history]
        self.run_dir = run_dir
        self.metrics = dict(metrics or {})
        self.epoch = int(epoch)
        self.pos_weight = pos_weight
        self.train_seconds = train_seconds
        self.steps = steps

    def __repr__(self) -> str:
        return f"Fitted(model={self.model_name!r}, bands={self.band_names}, threshold={self.threshold:.3f}, epoch={self.epoch})"

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the one-file checkpoint (weights, config, stats, bands, threshold, version)."""
        from emberxr.train.checkpoint import save_checkpoint

        payload = {
            "model_name": self.model_name,
            "model_config": dict(self.model.config) if hasattr(self.model, "config") else {},
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "norm_stats": self.stats.to_dict(),
            "band_names": self.band_names,
            "threshold": self.threshold,
            "config": self.config,
            "data_config": dict(self.config["data"]),
            "epoch": self.epoch,
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "history": self.history,
            "pos_weight": self.pos_weight,
            "train_seconds": self.train_seconds,
            "steps": self.steps,
        }
        return save_checkpoint(path, payload)

    # -- data checks ---------------------------------------------------------------------------
    def check_event(self, event: xr.Dataset) -> None:
        """Raise :class:`CheckpointError` when the event's static bands differ from the model's."""
        from emberxr.train.checkpoint import check_bands

        bands = [str(b) for b in event["band"].values.tolist()] if "band" in event.coords else []
        check_bands(self.band_names, bands, f"event {event.attrs.get('event_id', '?')!r}")

    def _fwd_kwargs(self) -> dict[str, Any]:
        d = self.config["data"]
        return {
            "max_history": d["max_history"],
            "patch_size": d["patch_size"],
            **_token_kwargs(self.model),
            "tile_size": d["tile_size"],
        }

    # -- evaluate ------------------------------------------------------------------------------
    def evaluate(
        self,
        data: Any,
        split: str = "test",
        output: str | os.PathLike | None = None,
        per_event: bool = True,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> Any:
        """Metrics on ``data`` as a tidy :class:`pandas.DataFrame`.

        Parameters
        ----------
        data
            Anything :func:`fit` accepts; for split dicts / catalogs the ``split`` split is used.
        split
            Which split of a catalog or split dict to evaluate.
        output
            Also write the table: ``.csv`` as CSV, anything else as markdown.
        per_event
            Include one row per event and target.

        Returns
        -------
        pandas.DataFrame
            Columns ``model, target (next|new), scope (all|history|event), group, threshold,
            precision, recall, f1, iou, ap, n_samples, n_pixels, n_positive``.
        """
        from emberxr.train.loop import evaluate_model
        from emberxr.train.metrics import write_table

        if isinstance(data, (xr.Dataset, list, tuple, xr.DataTree)):
            events = _event_list(data)
        else:
            splits = resolve_data(data)
            if split not in splits:
                raise ConfigError(
                    [Problem(f"data has no {split!r} split (has {sorted(splits)})", "pass split=...")],
                    subject="evaluate",
                )
            events = splits[split]
        for ev in events:
            self.check_event(ev)
        ds = _dataset(events, self.stats, self.config, self.model, train=False)
        loader = _loader(ds, self.config, batch_size=batch_size)
        acc, _ = evaluate_model(
            self.model, loader, self.threshold, "cpu", per_event=per_event, progress=progress
        )
        df = acc.table(model=self.model_name)
        if output is not None:
            write_table(df, str(output))
        return df

    # -- predict -------------------------------------------------------------------------------
    def forecast(self, event: xr.Dataset, t: int | None = None, horizon: int = 1) -> xr.Dataset:
        """Probability, binary mask and arrival time as a Dataset (see :mod:`emberxr.forecast`)."""
        from emberxr.forecast import forecast

        self.check_event(event)
        return forecast(self.model, self.stats, event, t, horizon, self.threshold, **self._fwd_kwargs())

    def predict(self, event: xr.Dataset, t: int | None = None, horizon: int = 1) -> xr.DataArray:
        """Fire probability on the event's grid.

        Parameters
        ----------
        event
            FireEvent (zarr, raw reader, or in memory) with the model's static bands.
        t
            Last observed frame (default: the last one).
        horizon
            Steps ahead; > 1 rolls the model forward on its own thresholded forecasts.

        Returns
        -------
        xarray.DataArray
            ``(y, x)`` for ``horizon=1``, else ``(step, y, x)``; CRS and ``spatial_ref`` kept
            (``.rio.to_raster`` works). The binary forecast at the validation threshold is the
            ``fire_mask`` coordinate, the estimated arrival time (hours from the issue time) the
            ``arrival_time`` coordinate; ``attrs["threshold"]`` holds the threshold.
        """
        from emberxr.forecast import to_dataarray

        return to_dataarray(self.forecast(event, t, horizon))


def load(path: str | os.PathLike) -> Fitted:
    """Load a checkpoint written by :meth:`Fitted.save` (``torch.load(weights_only=True)``).

    Raises
    ------
    CheckpointError
        Unreadable file, not an emberxr checkpoint, or weights that do not fit the model.
    """
    from emberxr.models.registry import create_model
    from emberxr.normalize import NormStats
    from emberxr.train.checkpoint import load_checkpoint
    from emberxr.train.config import validate_config

    ck = load_checkpoint(path)
    try:
        net = create_model(ck["model_name"], **ck["model_config"])
        net.load_state_dict(ck["state_dict"])
    except EmberxrError:
        raise
    except Exception as exc:
        raise CheckpointError(
            f"{path}: the weights do not fit model {ck['model_name']!r} ({type(exc).__name__}: {str(exc)[:300]}); "
            "the checkpoint may come from another emberxr version"
        ) from exc
    try:
        cfg = validate_config(ck.get("config") or {})
    except ConfigError as exc:
        warnings.warn(
            f"{path}: stored configuration is not valid for this version, using defaults: {exc}", stacklevel=2
        )
        cfg = validate_config({"data": ck.get("data_config", {})})
    stats = NormStats.from_dict(ck["norm_stats"])
    return Fitted(
        net,
        ck["model_name"],
        cfg,
        stats,
        threshold=float(ck["threshold"]),
        history=ck.get("history", []),
        run_dir=Path(path).parent,
        metrics=ck.get("metrics", {}),
        epoch=int(ck.get("epoch", 0)),
        pos_weight=ck.get("pos_weight"),
        train_seconds=ck.get("train_seconds"),
        steps=ck.get("steps"),
    )
