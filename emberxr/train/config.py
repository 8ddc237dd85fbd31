"""Training configuration: validation, YAML loading, dotted overrides and ``fit`` keywords.

A configuration is a plain nested ``dict`` (JSON/YAML-able, stored in checkpoints)::

    model:    name, preset, <the model's own constructor options>
    data:     catalog, patch_size, max_history, tile_size, strict, ...
    training: batch_size, lr_temporal, lr_spatial, weight_decay, epochs, schedule, ...
    wandb:    enabled, project, entity, mode, tags, watch, log_images, name

**The model section belongs to the model.** Besides ``name`` (a registry name) and ``preset`` (one
of the model class's named ``presets``, whose values the explicit options override), every key is a
keyword argument of that model's constructor: ``model: {name: emberformer, d_model: 128,
decoder: unet}``. Options are checked against the constructor's signature (unknown options get
close matches) and type annotations (:mod:`emberxr.train.model_config`); ``in_static`` comes
from the data, ``patch_size`` and ``max_history`` from the ``data`` section. No model is known by
name here.

**The other sections** are pydantic models (:class:`DataConfig`, :class:`TrainingConfig`,
:class:`WandbConfig`): every value is type-, range- and choice-checked. Problems are gathered, with
close matches for misspelt keys, and raised together as one :class:`~emberxr.errors.ConfigError`;
no pydantic exception reaches the caller. :func:`build_config` (what :func:`emberxr.fit` calls)
also builds the model on the ``meta`` device, so constructor checks (``nhead`` dividing
``d_model``, a missing weight file for ``pretrained: true``) fail before any data is read.

Overrides are dotted keys, from the command line (``model.d_model=128``) or as a flat mapping
injected by a sweep (``{"model.d_model": 128}``); :func:`apply_overrides` serves both.
``train.*`` is accepted as an alias of ``training.*``. Keys of older versions
(``model.temporal.d_model``, ``model.spatial.decoder_type``, ``model.options``,
``data.token_cache_dir``) are errors that name the key to use now (:data:`LEGACY_KEYS`).
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from emberxr.errors import ConfigError, EmberxrError, Problem
from emberxr.train.model_config import (
    DATA_OWNED,
    check_model_build,
    get_model_class,
    model_kwargs,
    model_option_names,
    model_options,
    show_value,
    validate_options,
)

__all__ = [
    "LEAVES",
    "LEGACY_KEYS",
    "DataConfig",
    "TrainingConfig",
    "WandbConfig",
    "apply_overrides",
    "build_config",
    "check_model_build",
    "default_config",
    "default_monitor",
    "describe",
    "flatten",
    "is_known_key",
    "keyword_overrides",
    "load_config",
    "merge_overrides",
    "model_kwargs",
    "model_options",
    "parse_override",
    "read_yaml",
    "resolved_settings",
    "setting_changes",
    "upgrade_legacy_config",
    "validate_config",
]

SECTIONS = ("model", "data", "training", "wandb")
ALIASES = {"train": "training"}
DEFAULT_MODEL = "emberformer"
#: keys of older versions -> the key to use now (None: removed)
LEGACY_KEYS: dict[str, str | None] = {
    **{
        f"model.temporal.{k}": f"model.{k}"
        for k in (
            "d_model",
            "nhead",
            "num_layers",
            "dropout",
            "max_seq_len",
            "token_mode",
            "use_wind",
            "use_static",
        )
    },
    "model.spatial.decoder_type": "model.decoder",
    "model.spatial.pretrained": "model.pretrained",
    "model.spatial.freeze_epochs": "training.freeze_epochs",
    "model.spatial.spatial_layers": "model.spatial_layers",
    "model.spatial.decoder_config": "model.decoder_config",
    "data.token_cache_dir": None,
}
_LEGACY_GROUPS = ("temporal", "spatial", "options")


# ---------------------------------------------------------------------------------------------
# the sections (pydantic)
# ---------------------------------------------------------------------------------------------
def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


Int = Annotated[int, BeforeValidator(_no_bool)]
Float = Annotated[float, BeforeValidator(_no_bool)]


def _key(default: Any, help: str, accepts: str) -> Any:
    """A section field: its default, a one-line help and the accepted values in words."""
    return Field(default, description=help, json_schema_extra={"accepts": accepts})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Section):
    """``data.*``: where samples come from and how they are cut."""

    catalog: str | None = _key(
        "sim-small", "catalog name or path (used when fit gets no data)", "text or null"
    )
    patch_size: Annotated[Int, Field(ge=1)] = _key(
        16, "patch size p; H and W are padded/cropped to multiples of p", "an integer >= 1"
    )
    max_history: Annotated[Int, Field(ge=1)] = _key(6, "longest history fed to the model", "an integer >= 1")
    min_history: Annotated[Int, Field(ge=1)] = _key(
        1,
        "shortest history of a sample; earlier steps of an event give no sample (protocols with a fixed "
        "number of input days set it to max_history)",
        "an integer from 1 to max_history",
    )
    tile_size: Annotated[Int, Field(ge=1)] | None = _key(
        None,
        "train on tiles of this size (null = whole events)",
        "an integer >= 1 (a multiple of patch_size) or null",
    )
    strict: bool = _key(False, "crop to multiples of the patch size instead of padding", "true or false")
    augment: bool = _key(
        False, "random flips/rotations of training samples (wind rotated to match)", "true or false"
    )
    num_workers: Annotated[Int, Field(ge=0)] = _key(
        0, "DataLoader worker processes (persistent; each reopens the stores)", "an integer >= 0"
    )
    preload: bool | Literal["auto"] = _key(
        "auto",
        "load the events into memory (true) or stream windows from them (false); auto = preload "
        "when they fit preload_max_gb",
        "true, false or 'auto'",
    )
    preload_max_gb: Annotated[Float, Field(gt=0)] | None = _key(
        None,
        "decoded size up to which preload: auto loads a dataset (null = a quarter of the available memory)",
        "a number > 0 or null",
    )
    cache_mb: Annotated[Float, Field(ge=0)] = _key(
        256,
        "per-process budget (MiB) of decoded chunks of streamed events, and of normalised static windows",
        "a number >= 0",
    )
    max_train_samples: Annotated[Int, Field(ge=1)] | None = _key(
        None, "use at most this many training samples (deterministic subset)", "an integer >= 1 or null"
    )
    max_val_samples: Annotated[Int, Field(ge=1)] | None = _key(
        None, "use at most this many validation samples", "an integer >= 1 or null"
    )
    target: Literal["cumulative", "active"] = _key(
        "cumulative",
        "what the fire masks hold and the model predicts: burned by t+1 (cumulative) or fire detected "
        "at t+1 (active); must match the events' fire_kind",
        "'cumulative' or 'active'",
    )


class TrainingConfig(_Section):
    """``training.*`` (alias ``train.*``): optimisation, loss, checkpoints, device."""

    batch_size: Annotated[Int, Field(ge=1)] = _key(
        8, "samples per optimisation step (per process under DDP)", "an integer >= 1"
    )
    lr_temporal: Annotated[Float, Field(gt=0)] = _key(
        1e-3, "learning rate of the temporal parameter group (every parameter of most models)", "a number > 0"
    )
    lr_spatial: Annotated[Float, Field(gt=0)] | Literal["auto"] = _key(
        "auto",
        "learning rate of the spatial (decoder) group; auto = lr_temporal / 10 when pretrained weights "
        "were loaded, else lr_temporal",
        "a number > 0 or 'auto'",
    )
    weight_decay: Annotated[Float, Field(ge=0)] = _key(
        0.01, "AdamW weight decay (not applied to biases and norms)", "a number >= 0"
    )
    epochs: Annotated[Int, Field(ge=1)] = _key(50, "maximum number of epochs", "an integer >= 1")
    steps_per_epoch: Annotated[Int, Field(ge=1)] | None = _key(
        None, "optimisation steps per epoch (null = one pass over the data)", "an integer >= 1 or null"
    )
    schedule: Literal["cosine", "plateau", "constant"] = _key(
        "cosine", "learning-rate schedule", "'cosine', 'plateau' or 'constant'"
    )
    warmup_steps: Annotated[Int, Field(ge=0)] = _key(
        0, "linear warm-up steps before the cosine schedule", "an integer >= 0"
    )
    grad_clip: Annotated[Float, Field(gt=0)] | None = _key(
        1.0, "clip the gradient norm at this value (null = off)", "a number > 0 or null"
    )
    checkpoint_every_steps: Annotated[Int, Field(ge=1)] | None = _key(
        None,
        "also write a resumable last.pt every this many steps within an epoch (null = at epoch ends only)",
        "an integer >= 1 or null",
    )
    early_stopping: Annotated[Int, Field(ge=1)] | None = _key(
        10, "stop after this many epochs without improvement (null = off)", "an integer >= 1 or null"
    )
    monitor: str = _key(
        "val/new_ap",
        "metric that picks the best checkpoint and drives early stopping (not set: val/new_ap for "
        "data.target cumulative, val/ap for active)",
        "a logged metric: val/ap, val/new_ap, val/f1, val/loss ...",
    )
    monitor_mode: Literal["max", "min"] = _key(
        "max", "whether the monitored metric should go up or down", "'max' or 'min'"
    )
    freeze_epochs: Annotated[Int, Field(ge=0)] = _key(
        0,
        "epochs the pretrained part of the decoder stays frozen (only when weights were loaded)",
        "an integer >= 0",
    )
    bce_weight: Annotated[Float, Field(ge=0)] = _key(1.0, "weight of the BCE term", "a number >= 0")
    dice_weight: Annotated[Float, Field(ge=0)] = _key(0.1, "weight of the Dice term", "a number >= 0")
    pos_weight: Annotated[Float, Field(gt=0)] | Literal["auto"] = _key(
        "auto",
        "BCE positive weight, or 'auto' = negatives/positives of the training targets",
        "a number > 0 or 'auto'",
    )
    max_pos_weight: Annotated[Float, Field(ge=1)] = _key(
        50.0, "upper bound of the automatic pos_weight", "a number >= 1"
    )
    calibrate: Literal["none", "temperature", "isotonic"] = _key(
        "none",
        "calibrate probabilities on the validation split after training (then the threshold is "
        "chosen on calibrated probabilities)",
        "'none', 'temperature' or 'isotonic'",
    )
    seed: Annotated[Int, Field(ge=0)] = _key(0, "seed for torch, numpy and Python", "an integer >= 0")
    amp: bool | Literal["auto"] = _key(
        "auto", "mixed precision: true, false or 'auto' (on where supported)", "true, false or 'auto'"
    )
    device: Annotated[str, Field(pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")] = _key(
        "auto", "where to train", "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
    )
    num_threads: Annotated[Int, Field(ge=1)] | None = _key(
        None, "torch CPU threads (null = leave as is)", "an integer >= 1 or null"
    )
    output_dir: str = _key("runs", "where run directories (checkpoints, tables) go", "a directory path")
    run_name: str | None = _key(None, "run directory name (null = <model>-<timestamp>)", "text or null")
    progress: bool = _key(True, "tqdm progress bars", "true or false")


class WandbConfig(_Section):
    """``wandb.*``: Weights & Biases logging (never fails or hangs a run)."""

    enabled: bool = _key(
        True, "log to Weights & Biases (offline unless WANDB_API_KEY is set)", "true or false"
    )
    project: str = _key("emberxr", "W&B project", "text")
    entity: str | None = _key(None, "W&B entity", "text or null")
    mode: Literal["online", "offline", "disabled"] | None = _key(
        None,
        "null = $WANDB_MODE, else online with an API key and offline without",
        "'online', 'offline', 'disabled' or null",
    )
    name: str | None = _key(
        None, "run name (null = generated from the model and key settings)", "text or null"
    )
    group: str | None = _key(
        None, "W&B run group (a sweep groups its trials under its study name)", "text or null"
    )
    tags: list[str | int | float] = _key([], "extra tags", "a list of tags")
    watch: bool = _key(False, "wandb.watch the model (gradients)", "true or false")
    log_images: bool = _key(True, "log a history/target/prediction preview each validation", "true or false")
    log_artifact: bool = _key(True, "upload the best checkpoint as an artifact", "true or false")


SECTION_MODELS: dict[str, type[_Section]] = {
    "data": DataConfig,
    "training": TrainingConfig,
    "wandb": WandbConfig,
}
#: every dotted key of the data/training/wandb sections
LEAVES: tuple[str, ...] = tuple(f"{s}.{f}" for s, m in SECTION_MODELS.items() for f in m.model_fields)
_MODEL_KEYS = ("model.name", "model.preset")


def default_config() -> dict[str, Any]:
    """A fresh copy of the default configuration (nested dict)."""
    return validate_config({})


# ---------------------------------------------------------------------------------------------
# hints
# ---------------------------------------------------------------------------------------------
def _close(key: str, extra: Sequence[str] = ()) -> str:
    """Close matches of a dotted key: the same name in another section first, then spellings."""
    pool = [*SECTIONS, *_MODEL_KEYS, *LEAVES, *extra]
    depth = key.count(".")
    last = key.rsplit(".", 1)[-1]
    close = [p for p in pool if p.count(".") == depth and p != key and p.rsplit(".", 1)[-1] == last]
    same_depth = [p for p in pool if p.count(".") == depth]
    close += [c for c in difflib.get_close_matches(key, same_depth, n=3, cutoff=0.6) if c not in close]
    return (
        f"did you mean {', '.join(repr(c) for c in close[:3])}?"
        if close
        else "see docs/training.md for the keys"
    )


def _section_problems(section: str, values: Any, problems: list[Problem], extra_keys: Sequence[str]) -> dict:
    """Validate one pydantic section; every problem becomes a :class:`Problem`."""
    model = SECTION_MODELS[section]
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        problems.append(
            Problem(
                f"{section!r} must be a mapping, got {type(values).__name__}",
                f"write {section}: {{key: value}}",
            )
        )
        return model().model_dump()
    try:
        return model.model_validate(dict(values)).model_dump()
    except ValidationError as exc:
        done: set[str] = set()
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            path = f"{section}.{field}"
            if path in done:
                continue
            done.add(path)
            if err["type"] == "extra_forbidden":
                problems.append(Problem(f"unknown key {path!r}", _close(path, extra_keys)))
                continue
            info = model.model_fields[field]
            accepts = (info.json_schema_extra or {}).get("accepts", "see docs/training.md")
            problems.append(
                Problem(
                    f"{path!r} is {show_value(values.get(field))}",
                    f"use {accepts} (default {info.default!r})",
                )
            )
        # the valid part, for the cross-field checks
        good = {k: v for k, v in values.items() if f"{section}.{k}" not in done}
        try:
            return model.model_validate(good).model_dump()
        except ValidationError:  # pragma: no cover - the bad keys were removed
            return model().model_dump()


# ---------------------------------------------------------------------------------------------
# the model section (its options are checked by emberxr.train.model_config)
# ---------------------------------------------------------------------------------------------
def _legacy_model_problems(
    options: Mapping[str, Any], accepted: set[str], problems: list[Problem]
) -> set[str]:
    """Report the model keys of older versions (``temporal``, ``spatial``, ``options`` groups that the
    model does not take as options), naming the new key of each; returns the keys to skip."""
    skip: set[str] = set()
    for group in _LEGACY_GROUPS:
        if group not in options or group in accepted:
            continue
        skip.add(group)
        inner = options[group]
        for k in list(inner) if isinstance(inner, Mapping) and inner else [None]:
            old = f"model.{group}" + (f".{k}" if k is not None else "")
            new = LEGACY_KEYS.get(old) or (f"model.{k}" if k is not None else "model.<option>")
            why = (
                " (models own their options: model: {name: ..., <option>: ...})"
                if new.startswith("model.")
                else ""
            )
            problems.append(Problem(f"{old!r} is a key of an older emberxr", f"write it as {new!r}{why}"))
    return skip


def _legacy_section_problems(section: str, values: Any, problems: list[Problem]) -> Any:
    """Report removed keys of a section; returns the section without them."""
    if not isinstance(values, Mapping):
        return values
    out = {}
    for k, v in values.items():
        old = f"{section}.{k}"
        if old in LEGACY_KEYS:
            new = LEGACY_KEYS[old]
            problems.append(
                Problem(
                    f"{old!r} is a key of an older emberxr",
                    f"write it as {new!r}"
                    if new
                    else "remove it: nothing read it (tokens are built on the fly)",
                )
            )
        else:
            out[k] = v
    return out


def _model_section(
    section: Any, problems: list[Problem], legacy: list[Problem], renamed_from: str | None
) -> dict[str, Any]:
    """Validate ``model``: a known name, then the preset and options against that model."""
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        problems.append(
            Problem(
                f"'model' must be a mapping, got {type(section).__name__}",
                "write model: {name: ..., <option>: ...}",
            )
        )
        return {"name": DEFAULT_MODEL, "preset": None}
    name = section.get("name", DEFAULT_MODEL)
    out: dict[str, Any] = {"name": name, "preset": section.get("preset")}
    if not isinstance(name, str):
        problems.append(
            Problem(f"'model.name' is {show_value(name)}", "use a registry name (see `emberxr models`)")
        )
        return out
    try:
        cls = get_model_class(name)
    except EmberxrError as exc:
        problems.append(Problem(f"'model.name' is {name!r}", str(exc)))
        return out
    options = {k: v for k, v in section.items() if k not in ("name", "preset")}
    skip = _legacy_model_problems(options, set(model_option_names(cls)), legacy)
    options = {k: v for k, v in options.items() if k not in skip}
    out.update(validate_options(cls, name, out["preset"], options, problems, LEAVES, renamed_from))
    return out


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
def _fold_aliases(cfg: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(cfg))
    for alias, canonical in ALIASES.items():  # fold `train:` into `training:`
        if alias in out:
            given = out.pop(alias)
            if isinstance(given, Mapping) and isinstance(out.get(canonical) or {}, Mapping):
                out[canonical] = {**given, **(out.get(canonical) or {})}
            else:
                out.setdefault(canonical, given)
    return out


def _validate(cfg: Any, build: bool = False, renamed_from: str | None = None) -> dict[str, Any]:
    problems: list[Problem] = []
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, Mapping):
        raise ConfigError(
            [Problem(f"config must be a mapping, got {type(cfg).__name__}", "use key: value pairs")]
        )
    cfg = _fold_aliases(cfg)
    for key in cfg:
        if key not in SECTIONS:
            problems.append(Problem(f"unknown key {str(key)!r}", _close(str(key))))
    legacy: list[Problem] = []
    sections = {k: _legacy_section_problems(k, cfg.get(k), legacy) for k in ("data", "training", "wandb")}
    n_before = len(problems) + len(legacy)
    model = _model_section(cfg.get("model"), problems, legacy, renamed_from)
    model_ok = len(problems) + len(legacy) == n_before
    try:  # the model's options, for "right name in the wrong section" hints
        extra = [f"model.{k}" for k in model_option_names(get_model_class(model["name"]))]
    except (EmberxrError, TypeError):
        extra = []
    out = {
        "model": model,
        **{k: _section_problems(k, v, problems, extra) for k, v in sections.items()},
    }
    problems = legacy + problems
    d, tr = out["data"], out["training"]
    if d["tile_size"] is not None and d["tile_size"] % d["patch_size"]:
        problems.append(
            Problem(
                f"'data.tile_size' {d['tile_size']} is not a multiple of 'data.patch_size' {d['patch_size']}",
                "choose a tile size divisible by the patch size",
            )
        )
    if d["min_history"] > d["max_history"]:
        problems.append(
            Problem(
                f"'data.min_history' {d['min_history']} exceeds 'data.max_history' {d['max_history']}",
                "use a min_history from 1 to max_history",
            )
        )
    if tr["bce_weight"] == 0 and tr["dice_weight"] == 0:
        problems.append(
            Problem("'training.bce_weight' and 'training.dice_weight' are both 0", "give one a weight > 0")
        )
    if isinstance(cfg.get("training"), Mapping) and "monitor" in cfg["training"]:
        from emberxr.train.loop import monitor_keys

        keys = monitor_keys(d["target"])
        if tr["monitor"] not in keys:
            close = difflib.get_close_matches(str(cfg["training"]["monitor"]), keys, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
            if tr["monitor"] in monitor_keys():  # a new-burn metric with active-fire targets
                hint = (
                    "new-burn metrics are not computed for data.target: active (active fire is not "
                    "cumulative, so 'newly burned' has no meaning); "
                )
            problems.append(
                Problem(
                    f"'training.monitor' is {show_value(cfg['training']['monitor'])}",
                    f"{hint}use a metric the trainer logs: {', '.join(keys)}",
                )
            )
    else:  # not set: the default of the target kind
        tr["monitor"] = default_monitor(d["target"])
    if build and model_ok:
        problems += check_model_build(out)
    if problems:
        raise ConfigError(problems)
    return out


def default_monitor(target: str) -> str:
    """The default ``training.monitor`` of a target kind: new-burn AP (``val/new_ap``) for
    cumulative targets, AP of the next mask (``val/ap``) for active-fire targets, which have no
    new-burn metrics."""
    return "val/new_ap" if target == "cumulative" else "val/ap"


def validate_config(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a (partial) configuration and fill in the defaults.

    Parameters
    ----------
    cfg
        Nested mapping; missing keys take their defaults.

    Returns
    -------
    dict
        The complete configuration: ``model`` holds ``name``, ``preset`` and the explicit options;
        ``data``/``training``/``wandb`` every key.

    Raises
    ------
    ConfigError
        Unknown keys (with close matches), keys of older versions (with the new key), values of
        the wrong type or out of range, an unknown model, preset or monitored metric — all listed
        at once.
    """
    return _validate(cfg)


def parse_override(item: str) -> tuple[str, Any]:
    """``"key.sub=value"`` → ``("key.sub", value)``, the value read as a YAML scalar (text when
    it is not valid YAML)."""
    import yaml

    if "=" not in item:
        raise ConfigError([Problem(f"override {item!r} has no '='", "write overrides as key.sub=value")])
    key, _, text = item.partition("=")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    return key.strip(), value


def _canonical(key: str) -> str:
    head, _, rest = key.partition(".")
    head = ALIASES.get(head, head)
    return f"{head}.{rest}" if rest else head


def merge_overrides(
    cfg: Mapping[str, Any], overrides: Sequence[str] | Mapping[str, Any] | None
) -> dict[str, Any]:
    """Apply dotted overrides (see :func:`apply_overrides`) without validating the result."""
    out = _fold_aliases(cfg)
    if not overrides:
        return out
    items = (
        list(overrides.items()) if isinstance(overrides, Mapping) else [parse_override(o) for o in overrides]
    )
    for raw_key, value in items:
        parts = _canonical(str(raw_key)).split(".")
        node = out
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = {}
                node[p] = nxt
            node = nxt
        node[parts[-1]] = copy.deepcopy(value)
    return out


def apply_overrides(
    cfg: Mapping[str, Any], overrides: Sequence[str] | Mapping[str, Any] | None
) -> dict[str, Any]:
    """Apply dotted overrides over a configuration and validate the result.

    Parameters
    ----------
    cfg
        Base configuration (nested mapping; may be partial).
    overrides
        ``["model.d_model=128", ...]`` from the command line, or a flat mapping
        ``{"model.d_model": 128}`` (W&B sweep or Optuna trial). Values given as text are parsed as
        YAML scalars; ``model.decoder_config.encoder=resnet34`` sets a key inside a mapping option.

    Returns
    -------
    dict
        The validated, complete configuration.

    Raises
    ------
    ConfigError
        Every problem of the result (see :func:`validate_config`).
    """
    return validate_config(merge_overrides(cfg, overrides))


def load_config(
    source: str | os.PathLike | Mapping[str, Any] | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Load a YAML file (or take a mapping), apply overrides, validate.

    Parameters
    ----------
    source
        Path to a YAML file, a mapping, or None for the defaults. A bare name such as
        ``"emberformer"`` is looked up as ``configs/<name>.yaml`` in the working directory.
    overrides
        See :func:`apply_overrides`.

    Returns
    -------
    dict
        The validated configuration.
    """
    return apply_overrides(_read(source), overrides)


def _read(source: str | os.PathLike | Mapping[str, Any] | None) -> dict[str, Any]:
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    return read_yaml(source)


#: the configurations shipped with the package (``configs/`` in a checkout links here)
PACKAGE_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def find_config(source: str | os.PathLike) -> Path:
    """The YAML file of a path, or of a bare name: ``configs/<name>.yaml`` in the working directory,
    then the configurations shipped with the package (``emberxr fit emberformer`` works anywhere).

    Raises
    ------
    ConfigError
        Nothing found; the message lists the shipped configurations.
    """
    path = Path(source)
    if path.exists():
        return path
    if path.suffix == "" and os.sep not in str(source):
        for folder in (Path("configs"), PACKAGE_CONFIGS):
            if (folder / f"{path}.yaml").is_file():
                return folder / f"{path}.yaml"
    shipped = ", ".join(sorted(p.stem for p in PACKAGE_CONFIGS.glob("*.yaml")))
    raise ConfigError(
        [
            Problem(
                f"config file {str(source)!r} does not exist",
                f"give a path to a YAML file, or the name of a shipped configuration ({shipped})",
            )
        ]
    )


def read_yaml(source: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping from a path or a bare configuration name (see :func:`find_config`)."""
    import yaml

    path = find_config(source)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(f"{path} is not valid YAML: {exc}", "fix the YAML syntax")]) from None
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem(f"{path} holds a {type(data).__name__}, not a mapping", "write key: value pairs")]
        )
    return data


def flatten(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten a configuration to ``section.key`` (for W&B and tables; option values kept whole)."""
    return {
        f"{section}.{k}": copy.deepcopy(v)
        for section, values in cfg.items()
        if isinstance(values, Mapping)
        for k, v in values.items()
    }


def resolved_settings(cfg: Mapping[str, Any], leave_out: Sequence[str] = ()) -> dict[str, Any]:
    """What a validated configuration trains, in the installed emberxr: to tell runs apart that
    have the same configuration text but other library defaults.

    Parameters
    ----------
    cfg
        A validated configuration (:func:`build_config`: every section key has its value, defaults
        filled in).
    leave_out
        Dotted keys to leave out (settings of one machine, a seed recorded elsewhere).

    Returns
    -------
    dict
        JSON values: ``{"config": cfg without leave_out, "model": resolved_model(cfg)}`` — the model
        part names the constructor arguments of the model and of its decoder, defaults included, and
        digests the parameter shapes (:func:`~emberxr.train.model_config.resolved_model`).
    """
    import json

    from emberxr.train.model_config import resolved_model

    config = {
        section: {k: v for k, v in values.items() if f"{section}.{k}" not in set(leave_out)}
        if isinstance(values, Mapping)
        else values
        for section, values in cfg.items()
    }
    return json.loads(json.dumps({"config": config, "model": resolved_model(cfg)}, default=str))


def setting_changes(old: Any, new: Any, path: str = "") -> list[str]:
    """``"dotted.path: old -> new"`` for every leaf that differs between two JSON values (mappings
    walked by key; a key only one side has shows as ``'(absent)'``), e.g. of two
    :func:`resolved_settings`. The parameter-shape digest is reported as one line without the digests."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return [
            change
            for k in sorted(set(old) | set(new), key=str)
            for change in setting_changes(
                old.get(k, "(absent)"), new.get(k, "(absent)"), f"{path}.{k}" if path else str(k)
            )
        ]
    if old == new:
        return []
    if path.endswith("model.parameters"):
        return [f"{path}: the parameter shapes differ"]
    return [f"{path}: {old!r} -> {new!r}"]


def upgrade_legacy_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite a configuration of an older emberxr (a checkpoint's) in the current layout, unvalidated.

    ``model.temporal.*``, ``model.spatial.*`` and ``model.options.*`` become model options
    (:data:`LEGACY_KEYS`), keeping only those the model's constructor accepts — the older mapping
    dropped the others too (a U-Net never received ``d_model``); ``model.spatial.freeze_epochs``
    becomes ``training.freeze_epochs`` unless that was set; ``data.token_cache_dir`` is dropped.
    A configuration without old keys is returned unchanged (as a copy).
    """
    out = _fold_aliases(cfg)
    model = out.get("model")
    if isinstance(model, Mapping):
        model = dict(model)
        try:
            accepted = set(model_option_names(get_model_class(model.get("name", DEFAULT_MODEL))))
        except (EmberxrError, TypeError):
            accepted = set()
        moved: dict[str, Any] = {}
        for group in _LEGACY_GROUPS:
            inner = model.get(group)
            if group in accepted or not isinstance(inner, Mapping):
                continue
            del model[group]
            for k, v in inner.items():
                new = LEGACY_KEYS.get(f"model.{group}.{k}") or f"model.{k}"
                section, _, key = new.partition(".")
                if section == "training":
                    training = out.setdefault("training", {})
                    if isinstance(training, dict) and training.get(key) is None:
                        training[key] = v
                elif key in accepted and v is not None:
                    moved[key] = v
        out["model"] = {**model, **moved}
    data = out.get("data")
    if isinstance(data, Mapping):
        out["data"] = {k: v for k, v in data.items() if f"data.{k}" not in LEGACY_KEYS}
    return out


def is_known_key(key: str) -> bool:
    """Whether a dotted key can be set: a section key, ``model.name``/``preset`` or any model option
    (checked against the model when the configuration is validated)."""
    key = _canonical(key)
    return key in LEAVES or key.startswith("model.")


# ---------------------------------------------------------------------------------------------
# fit(**keywords) -> configuration
# ---------------------------------------------------------------------------------------------
def _kw_overrides(overrides: Mapping[str, Any], model_name: Any) -> dict[str, Any]:
    """Map ``fit`` keywords to dotted keys.

    ``training__epochs`` is ``training.epochs``; a bare name is the section key of that name
    (``epochs``) or an option of the model (``d_model`` -> ``model.d_model``) — an error when both
    exist, listing the dotted keys to use instead.
    """
    try:
        accepted = model_option_names(get_model_class(model_name)) if isinstance(model_name, str) else []
    except EmberxrError:
        accepted = []  # the unknown name is reported by validation
    out, problems = {}, []
    for k, v in overrides.items():
        key = k.replace("__", ".")
        if "." in key:
            out[key] = v
            continue
        if key in _LEGACY_GROUPS and key not in accepted:
            example = "hidden=8" if key == "options" else "d_model=128"
            problems.append(
                Problem(
                    f"keyword {k!r} is from an older emberxr",
                    f"pass the model's options as keywords themselves (e.g. fit(..., {example}))",
                )
            )
            continue
        hits = [p for p in LEAVES if p.rsplit(".", 1)[-1] == key]
        if key in accepted or key == "preset":
            hits.append(f"model.{key}")
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
            names = sorted({p.rsplit(".", 1)[-1] for p in LEAVES} | set(accepted))
            near = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
            if near:
                fix = f"did you mean {', '.join(repr(n) for n in near)}?"
            elif key in DATA_OWNED:
                fix = DATA_OWNED[key]
            else:
                fix = f"use a key of docs/training.md or an option of model {model_name!r}: {', '.join(accepted)}"
            problems.append(Problem(f"unknown keyword {k!r}", fix))
    if problems:
        raise ConfigError(problems)
    return out


def keyword_overrides(overrides: Mapping[str, Any], model_name: str | None) -> dict[str, Any]:
    """``fit`` keywords as canonical dotted keys (``epochs`` -> ``training.epochs``, ``d_model`` ->
    ``model.d_model`` for a model taking it, ``train__lr_temporal`` -> ``training.lr_temporal``).

    Raises
    ------
    ConfigError
        Unknown or ambiguous keywords (with close matches).
    """
    return {_canonical(k): v for k, v in _kw_overrides(overrides, model_name or DEFAULT_MODEL).items()}


def build_config(
    model: str | None,
    config: str | os.PathLike | Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The validated configuration of a ``fit`` call: YAML path / mapping / None, model name, keywords.

    Everything is checked here, before any data is read: every key, type, range and choice, the
    model name and its options (the model is built on the ``meta`` device, see
    :func:`check_model_build`), the monitored metric. Problems are raised together.

    Parameters
    ----------
    model
        Registry name; None keeps ``model.name`` of the configuration.
    config
        YAML path, mapping (validated or not) or None (defaults).
    overrides
        ``fit`` keywords: section keys by leaf name (``epochs=3``), model options (``d_model=128``),
        dotted paths with ``__`` (``training__epochs=3``) or with dots (``{"model.d_model": 128}``).

    Returns
    -------
    dict
        The validated configuration.

    Raises
    ------
    ConfigError
        Every problem found.
    """
    base = _fold_aliases(_read(config))
    renamed_from = None
    if model is not None:
        section = base.get("model")
        if not isinstance(section, Mapping):
            section = {}
        renamed_from = section.get("name", DEFAULT_MODEL)
        base["model"] = {**section, "name": model}
    name = (
        base["model"].get("name", DEFAULT_MODEL) if isinstance(base.get("model"), Mapping) else DEFAULT_MODEL
    )
    merged = merge_overrides(base, _kw_overrides(overrides or {}, name))
    return _validate(merged, build=True, renamed_from=renamed_from)


# ---------------------------------------------------------------------------------------------
# documentation
# ---------------------------------------------------------------------------------------------
def describe() -> str:
    """A markdown table of every key, the values it accepts, its default and meaning (docs/training.md)."""
    rows = ["| key | accepts | default | meaning |", "|---|---|---|---|"]
    rows.append(
        f"| `model.name` | a registry name (`emberxr models`) | `{DEFAULT_MODEL!r}` | the model to train |"
    )
    rows.append(
        "| `model.preset` | a preset name of that model, or null | `None` | named option values of the "
        "model ([models.md](models.md)); explicit options override them |"
    )
    rows.append(
        "| `model.<option>` | the constructor's type | the constructor's default | any other key is an "
        "option of the model's constructor ([models.md](models.md)) |"
    )
    for section, model in SECTION_MODELS.items():
        for name, info in model.model_fields.items():
            accepts = (info.json_schema_extra or {}).get("accepts", "")
            rows.append(f"| `{section}.{name}` | {accepts} | `{info.default!r}` | {info.description} |")
    return "\n".join(rows)
