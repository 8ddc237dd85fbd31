"""Pretraining a decoder's encoder on simulated fires: the weight file ``pretrained: true`` loads.

>>> from emberxr.pretrain import pretrain
>>> result = pretrain("sim-small", decoder="segformer", steps=400)   # doctest: +SKIP
>>> result.path                       # ~/.cache/emberxr/weights/segformer-mit_b0.pt      # doctest: +SKIP

**Objective: next-step spread** (:data:`OBJECTIVE`). The encoder is trained inside the very model it
will serve: an EmberFormer with the chosen decoder whose temporal transformer is reduced to its
token embedding (``num_layers=0``, ``spatial_layers=0``: the context grid is a per-patch linear
embedding of the last fire frame, static bands and wind), trained by :func:`emberxr.fit` to predict
the next fire mask of the simulated events (weighted BCE + Dice, the downstream loss). So the
encoder sees exactly the input it sees later — ``[projected context ‖ fine features]``, the fine
features being the last frame, active front, validity, history fraction, static bands, wind (and
dynamic bands) in EmberFormer's order — and learns what matters downstream: how fronts advance
over fuel, slope and wind. ImageNet features fit neither the 30-odd input channels (their RGB
kernels are only tiled over them) nor the task; a self-supervised objective (reconstructing masked
terrain/fuel bands) would learn the textures of the static bands but nothing of fire behaviour,
while the simulator gives us exact next-step labels for free. Only the encoder is kept: the
decoder head and the context embedding are fitted again downstream.

Only the ``train`` and ``val`` splits of the data are used (never ``test``): pretrain on the split
a study trains on (for the shift benchmark, ``sim-wide-small-shift``, whose train split holds no
held-out event).

The file (:func:`emberxr.decoders.weights.save_weights`) is the encoder's state dict plus metadata
(objective, catalog, steps, seed, input channel names, band names, the command). Written by default
to where ``pretrained: true`` looks first (``$EMBERXR_WEIGHTS_DIR`` or
``~/.cache/emberxr/weights/<decoder>-<encoder>.pt``). Its input channels are named, so it also
loads into a model whose data has other bands (a different fuel-model vocabulary): channels are
matched by name (:func:`emberxr.decoders.weights.load_pretrained`).
"""

from __future__ import annotations

import inspect
import math
import os
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emberxr.errors import ConfigError, Problem

if TYPE_CHECKING:
    from emberxr.api import Fitted

__all__ = [
    "DTYPES",
    "OBJECTIVE",
    "PRETRAIN_MODEL",
    "PretrainResult",
    "default_catalog",
    "pretrain",
    "pretrainable_decoders",
]

#: the pretraining objective recorded in every file
OBJECTIVE = "next-step-spread"
_OBJECTIVE_TEXT = (
    "next fire mask of simulated events, predicted by EmberFormer(num_layers=0, spatial_layers=0) "
    "with this decoder (context = per-patch embedding of the last frame, static bands and wind); "
    "weighted BCE + Dice"
)
#: EmberFormer options of the pretraining model besides the decoder (the "light head")
PRETRAIN_MODEL: dict[str, Any] = {
    "d_model": 32,
    "nhead": 4,
    "num_layers": 0,
    "spatial_layers": 0,
    "dropout": 0.0,
    "max_seq_len": 8,
}
#: data settings of pretraining (the demo's: 64×64 crops biased to the front, augmented)
PRETRAIN_DATA: dict[str, Any] = {
    "patch_size": 16,
    "max_history": 6,
    "tile_size": 64,
    "augment": True,
    "max_val_samples": 96,
}
#: decoder arguments set by the model and the data, not by the user
_DATA_OWNED = ("context_channels", "fine_channels", "patch_size", "weights")
#: storage dtypes of the weight file
DTYPES = ("float32", "float16", "bfloat16")


@dataclass
class PretrainResult:
    """What :func:`pretrain` made.

    Attributes
    ----------
    path
        The weight file.
    metadata
        Its metadata (as stored).
    fitted
        The whole pretraining model (EmberFormer with the decoder), as :func:`emberxr.fit` returns it.
    """

    path: Path
    metadata: dict[str, Any]
    fitted: Fitted


def default_catalog() -> str:
    """``sim-wide-small`` when that catalog is installed, else ``sim-small``."""
    from emberxr.catalog import list_catalogs

    return "sim-wide-small" if "sim-wide-small" in list_catalogs() else "sim-small"


def pretrainable_decoders() -> list[str]:
    """Registered decoders with an encoder ``emberxr pretrain`` can train (``unet``, ``segformer`` ...)."""
    from emberxr.decoders._smp import SmpDecoder
    from emberxr.registry import get_decoder_class, list_decoders

    names = []
    for name in list_decoders():
        try:
            cls = get_decoder_class(name)
        except Exception:  # a broken plugin is reported by the registry, not here
            continue
        if isinstance(cls, type) and issubclass(cls, SmpDecoder):
            names.append(name)
    return names


def _default_encoder(decoder: str) -> str:
    from emberxr.registry import get_decoder_class

    return str(inspect.signature(get_decoder_class(decoder)).parameters["encoder"].default)


def _budget(steps: int, epoch_steps: int) -> tuple[int, int]:
    """``(epochs, steps_per_epoch)`` covering ``steps`` in epochs of at most ``epoch_steps`` (a
    resumable ``last.pt`` after each)."""
    epochs = max(1, math.ceil(steps / epoch_steps))
    return epochs, math.ceil(steps / epochs)


def _label(data: Any) -> str:
    if isinstance(data, (str, os.PathLike)):
        return os.fspath(data)
    if isinstance(data, Sequence):
        return f"{len(data)} events"
    return type(data).__name__


def _first_conv(encoder: Any, in_channels: int) -> str:
    """State-dict key of the encoder's first convolution (the one reading ``in_channels`` channels)."""
    from torch import nn

    for name, module in encoder.named_modules():
        if isinstance(module, nn.Conv2d) and module.in_channels == in_channels:
            return f"{name}.weight"
    raise AssertionError(f"no convolution of the encoder reads {in_channels} channels")  # pragma: no cover


def _check(
    decoder: str, steps: int, batch_size: int, epoch_steps: int, dtype: str, choices: list[str]
) -> None:
    import difflib

    problems = []
    if decoder not in choices:
        close = difflib.get_close_matches(decoder, choices, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.append(
            Problem(
                f"decoder {decoder!r} has no encoder to pretrain",
                f"{hint}choose one of {', '.join(choices)} (the 'light' and 'sam' decoders have no "
                "pretrainable encoder; sam loads Segment Anything weights instead)",
            )
        )
    for key, value in (("steps", steps), ("batch_size", batch_size), ("epoch_steps", epoch_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(Problem(f"{key}={value!r}", "use an integer >= 1"))
    if dtype not in DTYPES:
        problems.append(Problem(f"dtype={dtype!r}", f"use one of {', '.join(DTYPES)}"))
    if problems:
        raise ConfigError(problems, subject="pretrain")


def pretrain(
    data: Any = None,
    *,
    decoder: str = "segformer",
    encoder: str | None = None,
    decoder_config: Mapping[str, Any] | None = None,
    steps: int = 500,
    batch_size: int = 8,
    epoch_steps: int = 100,
    device: str = "auto",
    seed: int = 0,
    output: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    dtype: str = "float32",
    progress: bool = True,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
) -> PretrainResult:
    """Pretrain the encoder of ``decoder`` on next-step spread and write its weight file.

    Parameters
    ----------
    data
        Anything :func:`emberxr.data.sources.resolve_splits` accepts; only ``train`` and ``val``
        are used. None: :func:`default_catalog`.
    decoder
        A decoder with an smp encoder (:func:`pretrainable_decoders`).
    encoder
        Its encoder (default: the decoder's, e.g. ``mit_b0`` for ``segformer``).
    decoder_config
        Other decoder options (``encoder_depth``, ``context_out`` ...): use the values the model
        you fine-tune will use, since they shape the encoder.
    steps
        Optimisation steps (rounded up to whole epochs of at most ``epoch_steps``).
    batch_size
        Samples per step.
    epoch_steps
        Steps between validations and resumable checkpoints (``run_dir/last.pt``).
    device
        ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    seed
        Seed of the run (same seed, data and settings: the same file on the same machine).
    output
        The weight file (default: ``<first weights dir>/<decoder>-<encoder>.pt``, where
        ``pretrained: true`` looks first).
    run_dir
        Checkpoints of the pretraining run (default: a new
        ``<training.output_dir>/pretrain-<decoder>-<encoder>-<timestamp>``); needed for ``resume``.
    resume
        Continue the run in ``run_dir`` from its last complete epoch.
    dtype
        Storage dtype of the file (:data:`DTYPES`; ``float16`` halves it).
    progress
        Progress bars.
    overrides
        Dotted configuration overrides (``["data.tile_size=128", "training.lr_temporal=2e-3"]``)
        over the pretraining configuration.

    Returns
    -------
    PretrainResult

    Raises
    ------
    ConfigError
        A decoder without a pretrainable encoder, bad numbers or overrides (before any data is read).
    """
    import torch

    from emberxr import __version__
    from emberxr.api import fit
    from emberxr.data.sources import resolve_splits
    from emberxr.decoders.weights import save_weights, user_weights_dir, weights_filename
    from emberxr.train.config import build_config, merge_overrides
    from emberxr.train.loop import resolve_device
    from emberxr.train.runs import discard_if_empty, new_run_dir

    _check(decoder, steps, batch_size, epoch_steps, dtype, pretrainable_decoders())
    encoder = encoder or _default_encoder(decoder)
    epochs, per_epoch = _budget(steps, epoch_steps)
    base = {
        "model": {
            "name": "emberformer",
            **PRETRAIN_MODEL,
            "decoder": decoder,
            "pretrained": False,
            "decoder_config": {**dict(decoder_config or {}), "encoder": encoder},
        },
        "data": dict(PRETRAIN_DATA),
        "training": {
            "batch_size": batch_size,
            "epochs": epochs,
            "steps_per_epoch": per_epoch,
            "device": device,
            "seed": seed,
            "lr_temporal": 1e-3,
            "schedule": "cosine",
            "warmup_steps": min(20, epochs * per_epoch // 10),
            "early_stopping": None,
            "monitor": "val/loss",
            "monitor_mode": "min",
            "progress": progress,
        },
        "wandb": {"enabled": False},
    }
    cfg = build_config(None, merge_overrides(base, overrides), {})  # every problem before data is read
    # overrides may have changed the decoder or its encoder: what is trained is what is recorded
    decoder, encoder = cfg["model"]["decoder"], cfg["model"]["decoder_config"].get("encoder", encoder)
    _check(decoder, steps, batch_size, epoch_steps, dtype, pretrainable_decoders())
    data = default_catalog() if data is None else data
    splits = resolve_splits(data, required=("train",))
    used = {k: splits[k] for k in ("train", "val") if splits.get(k)}
    created = False
    if run_dir is None and not resume:
        run_dir, created = new_run_dir(cfg["training"]["output_dir"], f"pretrain-{decoder}-{encoder}"), True
    t0 = time.time()
    try:
        fitted = fit(used, model=None, config=cfg, resume=resume, run_dir=run_dir, sweep=False)
    finally:
        if created:
            discard_if_empty(Path(run_dir))
    dec = fitted.model.decoder
    names = list(dec.input_names or [])
    enc = dec.net.encoder
    metrics = {k: float(v) for k, v in fitted.metrics.items() if isinstance(v, (int, float))}
    metadata = {
        "objective": OBJECTIVE,
        "objective_description": _OBJECTIVE_TEXT,
        "decoder": decoder,
        "encoder": encoder,
        "decoder_config": {k: v for k, v in dec.config.items() if k not in _DATA_OWNED},
        "in_channels": len(names),
        "input_names": names,
        "first_conv": _first_conv(enc, len(names)),
        "band_names": list(fitted.stats.band_names),
        "static_features": list(fitted.stats.feature_names),
        "dynamic_features": list(fitted.stats.dynamic_feature_names),
        "catalog": _label(data),
        "train_events": len(used["train"]),
        "val_events": len(used.get("val", [])),
        "steps": int(fitted.steps or 0),
        "batch_size": batch_size,
        "seed": seed,
        "best_epoch": fitted.epoch,
        "metrics": metrics,
        "config": fitted.config,
        "train_seconds": round(time.time() - t0, 1),
        "device": str(resolve_device(cfg["training"]["device"])),
        "emberxr_version": __version__,
        "torch_version": torch.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": _command(data, decoder, encoder, steps, batch_size, epoch_steps, seed, dtype, overrides),
    }
    path = Path(output) if output is not None else user_weights_dir() / weights_filename(decoder, encoder)
    store = None if dtype == "float32" else getattr(torch, dtype)
    save_weights(path, enc.state_dict(), metadata, dtype=store)
    return PretrainResult(path=path, metadata=metadata, fitted=fitted)


def _command(
    data: Any,
    decoder: str,
    encoder: str,
    steps: int,
    batch_size: int,
    epoch_steps: int,
    seed: int,
    dtype: str,
    overrides: Sequence[str] | Mapping[str, Any] | None,
) -> str:
    """The ``emberxr pretrain`` command line that repeats this run (data named by its label)."""
    items = (
        [f"{k}={v}" for k, v in overrides.items()]
        if isinstance(overrides, Mapping)
        else list(overrides or [])
    )
    args = [
        "emberxr",
        "pretrain",
        "--data",
        _label(data),
        "--decoder",
        decoder,
        "--encoder",
        encoder,
        "--steps",
        str(steps),
        "--batch-size",
        str(batch_size),
        "--epoch-steps",
        str(epoch_steps),
        "--seed",
        str(seed),
        "--dtype",
        dtype,
        *items,
    ]
    return shlex.join(args)
