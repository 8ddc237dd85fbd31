"""The checkpoint record: one dataclass, written and read by every part of emberxr.

:class:`CheckpointRecord` is what ``best.pt`` / ``last.pt`` (written by
:class:`~emberxr.train.loop.Trainer` during training), ``model.pt`` (written by
:func:`emberxr.fit` and :meth:`emberxr.Fitted.save`) and :func:`emberxr.load` hold. On disk it is
a dict of plain tensors, dicts, lists, str, int, float, bool and None only, so it loads with
``torch.load(weights_only=True)`` (no code is unpickled)::

    format            "emberxr-checkpoint"
    version           3 (format version)
    emberxr_version   library version that wrote it
    model_name        registry name
    model_config      constructor kwargs (``model.config``)
    state_dict        model weights
    norm_stats        ``NormStats.to_dict()``
    band_names        static band names, in order
    threshold         probability threshold chosen on validation, or None = never chosen
    calibration       optional probability calibration fitted on validation (a dict of plain
                      floats / lists, :mod:`emberxr.products.calibration`), or None
    config            the full training configuration
    data_config       its ``data`` section (used when ``config`` no longer validates)
    epoch             last complete epoch (1-based; 0 = not trained)
    metrics           validation metrics of these weights
    history           per-epoch metrics of the run so far
    pos_weight        BCE positive-class weight used
    train_seconds     training wall time (None during training)
    steps             optimisation steps (None during training)
    resume            (``last.pt`` only) optimizer / scheduler / scaler / RNG state, best metric,
                      patience counter, step count and, when written mid-epoch, the sampler
                      position (:class:`ResumeState`)

The threshold is chosen after training (``fit`` runs the best weights over the validation data
and keeps the max next-mask F1), so ``best.pt`` and ``last.pt`` hold ``threshold=None``; what
needs one raises :class:`~emberxr.errors.ThresholdNotSetError`.

Version 2 files load with the light decoder's ``"concat"`` merge, their default then (version 3
made ``"add"`` the default).

Version 1 files still load. They always stored a number: ``best.pt`` / ``last.pt`` the
placeholder 0.5, which was never chosen and becomes None; the final ``model.pt`` (written by
``Fitted.save``) a real chosen threshold, which is kept. Only ``Fitted.save`` wrote the top-level
keys ``history``, ``steps`` and ``train_seconds``, so their presence tells a v1 ``model.pt`` from a
v1 ``best.pt`` / ``last.pt`` (whose history lived under ``resume``, where v2 no longer keeps it).

Writes are atomic (:func:`emberxr.atomic.atomic_path`): an interrupted save never leaves a broken
file under the final name.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from emberxr.atomic import atomic_path
from emberxr.errors import CheckpointError, ConfigError, EmberxrError

__all__ = [
    "FORMAT",
    "VERSION",
    "CheckpointRecord",
    "ResumeState",
    "check_bands",
    "check_event_bands",
    "rng_state",
    "set_rng_state",
]

FORMAT = "emberxr-checkpoint"
VERSION = 3
REQUIRED = ("format", "version", "model_name", "model_config", "state_dict", "norm_stats", "band_names")
V1_FINAL_KEYS = ("history", "steps", "train_seconds")  # only Fitted.save (model.pt) wrote these in v1


@dataclass
class ResumeState:
    """What :class:`~emberxr.train.loop.Trainer` needs, beyond the weights, to continue a run.

    A ``last.pt`` written part-way through an epoch (``training.checkpoint_every_steps``) also
    holds the sampler position: ``epoch_step`` optimisation steps of epoch ``record.epoch + 1``
    are done (0 = the record is at an epoch boundary), ``epoch_loss_sum`` is the sum of their
    training losses, and ``sampler`` the settings the position refers to (``samples``,
    ``batch_size``, ``world``, ``seed``, ``steps_per_epoch``), checked on resume. The order of
    the remaining samples is a function of the seed and the epoch, so it is not stored; ``rng``
    is the RNG state after the last step.
    """

    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    scaler: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    best_metric: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    global_step: int = 0
    epoch_step: int = 0
    epoch_loss_sum: float = 0.0
    sampler: dict[str, Any] | None = None


@dataclass
class CheckpointRecord:
    """One checkpoint (see the module docstring for every field).

    Examples
    --------
    >>> rec = CheckpointRecord.load("runs/unets-20261207-143012/model.pt")   # doctest: +SKIP
    >>> net = rec.build_model()                                              # doctest: +SKIP
    >>> rec.threshold = 0.42; rec.save("model.pt")                           # doctest: +SKIP
    """

    model_name: str
    model_config: dict[str, Any]
    state_dict: dict[str, Any]
    norm_stats: dict[str, Any]
    band_names: list[str]
    threshold: float | None = None
    calibration: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    data_config: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    pos_weight: float | None = None
    train_seconds: float | None = None
    steps: int | None = None
    resume: ResumeState | None = None
    version: int = VERSION
    emberxr_version: str | None = None
    path: Path | None = field(default=None, compare=False, repr=False)

    # -- making --------------------------------------------------------------------------------
    @classmethod
    def of(cls, model: torch.nn.Module, **values: Any) -> CheckpointRecord:
        """A record of ``model``'s current weights (detached, on CPU) and constructor config.

        ``values`` give the other fields. Defaults: ``model_config`` is ``model.config``,
        ``band_names`` those of ``norm_stats``, ``data_config`` the ``data`` section of ``config``.
        """
        values.setdefault("model_config", dict(getattr(model, "config", {}) or {}))
        values.setdefault("band_names", list(values["norm_stats"]["band_names"]))
        values.setdefault("data_config", dict((values.get("config") or {}).get("data", {})))
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return cls(state_dict=state, **values)

    # -- (de)serialising -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The on-disk dict (weights_only-safe types, current format version)."""
        from emberxr import __version__

        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("path", "resume")}
        # shallow: _plain below copies the containers (asdict's deep copy of optimizer and RNG
        # states cost more than the write itself)
        r = self.resume
        out["resume"] = {f.name: getattr(r, f.name) for f in fields(ResumeState)} if r is not None else None
        out.update(format=FORMAT, version=VERSION, emberxr_version=__version__)
        if out["threshold"] is not None:
            out["threshold"] = float(out["threshold"])
        return _plain(out)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | os.PathLike = "checkpoint") -> CheckpointRecord:
        """Check a loaded dict and turn it into a record, migrating older format versions.

        Raises
        ------
        CheckpointError
            Not an emberxr checkpoint, fields missing, or a newer format version.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise CheckpointError(
                f"{source} is not an emberxr checkpoint (no format={FORMAT!r}); use a file written by fit"
            )
        missing = [k for k in REQUIRED if k not in data]
        if int(data.get("version", 0)) < 2 and "threshold" not in data:
            missing.append("threshold")
        if missing:
            raise CheckpointError(
                f"{source} lacks field(s) {', '.join(missing)}; the file is damaged or from another tool"
            )
        version = int(data["version"])
        if version > VERSION:
            raise CheckpointError(
                f"{source} has checkpoint version {version}, newer than this emberxr understands ({VERSION}); "
                "upgrade emberxr"
            )
        d = _migrate_v1(dict(data)) if version < 2 else dict(data)
        if version < 3:
            d = _migrate_v2(d)
        names = {f.name for f in fields(cls)} - {"path", "resume", "version"}
        values = {k: d[k] for k in names if k in d}
        if values.get("threshold") is not None:
            values["threshold"] = float(values["threshold"])
        r = d.get("resume")
        known = {f.name for f in fields(ResumeState)}
        resume = ResumeState(**{k: v for k, v in r.items() if k in known}) if r else None
        path = Path(source) if isinstance(source, os.PathLike) else None
        return cls(**values, resume=resume, version=version, path=path)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the record atomically to ``path`` (``.pt``); returns the path."""
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(self.to_dict(), tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> CheckpointRecord:
        """Read a checkpoint with ``torch.load(weights_only=True)`` (no code is unpickled).

        Raises
        ------
        CheckpointError
            Missing file, not a weights-only emberxr checkpoint, unreadable or damaged content,
            or missing fields. The message never advises loading with ``weights_only=False``.
        """
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(
                f"checkpoint {str(path)!r} does not exist; pass the path of a .pt file written by fit"
            )
        damaged = (
            f"{path} could not be read as an emberxr checkpoint ({{}}); it may be truncated or not "
            "written by emberxr — re-run fit or pick another file"
        )
        try:
            data = torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            found = re.search(r"GLOBAL ([\w.]+)", str(exc))
            if found is None:  # not a pickle torch can parse at all
                raise CheckpointError(damaged.format("not a valid checkpoint file")) from None
            raise CheckpointError(
                f"{path} is not a weights-only emberxr checkpoint: it stores Python objects (e.g. "
                f"{found.group(1)}) that emberxr checkpoints never hold, and emberxr runs no code from a "
                "checkpoint. Fix: pass a model.pt / best.pt / last.pt written by emberxr (fit or "
                "Fitted.save); for weights from elsewhere, save only their state_dict (tensors) and load "
                "it into a model made with emberxr.create_model"
            ) from None
        except Exception as exc:
            detail = " ".join(line for line in str(exc).splitlines() if "weights_only" not in line)[:200]
            raise CheckpointError(damaged.format(f"{type(exc).__name__}: {detail}")) from None
        return cls.from_dict(data, source=path)

    # -- using -----------------------------------------------------------------------------------
    def build_model(self) -> torch.nn.Module:
        """The registry model with these weights.

        Raises
        ------
        CheckpointError
            The weights do not fit the model the registry builds from ``model_config``.
        """
        from emberxr.decoders.weights import skip_weight_files
        from emberxr.registry import create_model

        try:
            with skip_weight_files():  # every tensor comes from the state dict: no weight file needed
                net = create_model(self.model_name, **self.model_config)
            net.load_state_dict(self.state_dict)
        except EmberxrError:
            raise
        except Exception as exc:
            raise CheckpointError(
                f"{self.path or 'the checkpoint'}: the weights do not fit model {self.model_name!r} "
                f"({type(exc).__name__}: {str(exc)[:300]}); the checkpoint may come from another emberxr version"
            ) from None
        return net

    def stats(self) -> Any:
        """The :class:`~emberxr.normalize.NormStats` of the training data."""
        from emberxr.normalize import NormStats

        return NormStats.from_dict(self.norm_stats)

    def training_config(self) -> dict[str, Any]:
        """The stored configuration, validated; defaults plus the stored ``data`` section (with a
        warning) when it no longer validates in this emberxr version."""
        from emberxr.train.config import validate_config

        try:
            return validate_config(self.config or {})
        except ConfigError as exc:
            warnings.warn(
                f"{self.path or 'checkpoint'}: stored configuration is not valid for this version, "
                f"using defaults: {exc}",
                stacklevel=3,
            )
            return validate_config({"data": self.data_config})


def _migrate_v1(d: dict[str, Any]) -> dict[str, Any]:
    """Version 1 → 2: unset the placeholder threshold of best.pt / last.pt; history to the top;
    the training configuration in the current layout (models own their options); EmberFormer's
    ``decoder_weights`` option is now ``pretrained``."""
    from emberxr.train.config import upgrade_legacy_config

    if not any(k in d for k in V1_FINAL_KEYS):
        d["threshold"] = None
    if isinstance(d.get("config"), Mapping) and d["config"]:
        d["config"] = upgrade_legacy_config(d["config"])
    mc = d.get("model_config")
    if isinstance(mc, Mapping) and "decoder_weights" in mc:
        mc = dict(mc)
        mc["pretrained"] = mc.pop("decoder_weights") or False
        d["model_config"] = mc
    r = d.get("resume")
    if r:
        r = dict(r)
        history = r.pop("history", None)
        if "history" not in d and history is not None:
            d["history"] = history
        d["resume"] = r
    return d


def _migrate_v2(d: dict[str, Any]) -> dict[str, Any]:
    """Version 2 → 3: the light decoder's ``merge`` default became ``"add"``; a model built with
    the light decoder before keeps the ``"concat"`` merge its weights were trained with (in the
    model's constructor arguments and in the stored training configuration)."""
    mc = d.get("model_config")
    if not isinstance(mc, Mapping) or mc.get("decoder") != "light":
        return d
    dc = mc.get("decoder_config") if isinstance(mc.get("decoder_config"), Mapping) else {}
    if "merge" in dc:
        return d
    d["model_config"] = {**mc, "decoder_config": {**dc, "merge": "concat"}}
    cfg = d.get("config")
    if isinstance(cfg, Mapping) and isinstance(cfg.get("model"), Mapping):
        section = dict(cfg["model"])
        own = section.get("decoder_config") if isinstance(section.get("decoder_config"), Mapping) else {}
        section["decoder_config"] = {**own, "merge": "concat"}
        d["config"] = {**cfg, "model": section}
    return d


def _plain(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and paths into weights_only-safe types."""
    if isinstance(obj, Mapping):
        return {str(k) if not isinstance(k, int) else k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def check_bands(ckpt_bands: Sequence[str], data_bands: Sequence[str], source: str = "the data") -> None:
    """Raise :class:`CheckpointError` when the data's static bands differ from the checkpoint's."""
    a, b = [str(x) for x in ckpt_bands], [str(x) for x in data_bands]
    if a == b:
        return
    missing = [x for x in a if x not in b]
    extra = [x for x in b if x not in a]
    parts = []
    if missing:
        parts.append(f"missing band(s) {', '.join(missing)}")
    if extra:
        parts.append(f"unexpected band(s) {', '.join(extra)}")
    if not parts:
        parts.append(f"bands in another order ({', '.join(b)} instead of {', '.join(a)})")
    raise CheckpointError(
        f"{source} does not match the checkpoint's static bands: {'; '.join(parts)}. The model was trained on "
        f"[{', '.join(a)}]; give it data with exactly these bands (same names, same order) or re-train on the new bands"
    )


def check_event_bands(ckpt_bands: Sequence[str], event: xr.Dataset) -> None:
    """:func:`check_bands` for one FireEvent (named in the message by its ``event_id``)."""
    bands = [str(b) for b in event["band"].values.tolist()] if "band" in event.coords else []
    check_bands(ckpt_bands, bands, f"event {event.attrs.get('event_id', '?')!r}")


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states (CUDA's too, once CUDA is in use) as weights_only-safe
    values."""
    py = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    out = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
            "name": str(name),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # dropout on the GPU draws here
        out["cuda"] = list(torch.cuda.get_rng_state_all())
    return out


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np_state = (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    np.random.set_state(np_state)  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
