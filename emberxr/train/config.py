"""Training configuration: schema with defaults, YAML loading, dotted overrides, validation.

A configuration is a plain nested ``dict`` (JSON/YAML-able, stored in checkpoints) with the
structure of the EmberFormer notes::

    model:    name, temporal.{d_model, nhead, num_layers, dropout, max_seq_len},
              spatial.{decoder_type, pretrained, freeze_epochs, spatial_layers}, options{...}
    data:     catalog, patch_size, max_history, tile_size, strict, ...
    training: batch_size, lr_temporal, lr_spatial, weight_decay, epochs, schedule, ...
    wandb:    enabled, project, entity, mode, tags, watch, log_images, name

Overrides are dotted keys, from the command line (``model.temporal.d_model=128``) or as a flat
mapping injected by a sweep (``{"model.temporal.d_model": 128}``); the same function,
:func:`apply_overrides`, serves both. ``train.*`` is accepted as an alias of ``training.*`` (the
notes' sweep file uses it). Every unknown key and every value of the wrong type is reported at
once in a :class:`~emberxr.errors.ConfigError`, with close matches for misspelt keys.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from emberxr.errors import ConfigError, Problem

NoneType = type(None)
_ANY = object()  # leaf type marker: free-form mapping, not checked key by key


class _Leaf:
    """One configurable value: its accepted types, its default and a one-line help."""

    __slots__ = ("choices", "default", "help", "types")

    def __init__(
        self, types: type | tuple[type, ...], default: Any, help: str = "", choices: Sequence[Any] = ()
    ):
        self.types = types if isinstance(types, tuple) else (types,)
        self.default = default
        self.help = help
        self.choices = tuple(choices)


L = _Leaf
INT = int
FLOAT = (float, int)
OPT_INT = (int, NoneType)
OPT_STR = (str, NoneType)

SCHEMA: dict[str, Any] = {
    "model": {
        "name": L(str, "emberformer", "registry name of the model (see `emberxr models`)"),
        "temporal": {
            "d_model": L(INT, 64, "token width of the temporal transformer"),
            "nhead": L(INT, 4, "attention heads"),
            "num_layers": L(INT, 3, "transformer layers"),
            "dropout": L(FLOAT, 0.1, "dropout in the temporal transformer"),
            "max_seq_len": L(INT, 8, "longest history the positional encoding covers"),
            "token_mode": L(
                OPT_STR, None, "how fire patches become tokens (model-specific; null = model default)"
            ),
            "use_wind": L(bool, True, "embed the wind series"),
            "use_static": L(bool, True, "embed the static bands"),
        },
        "spatial": {
            "decoder_type": L(str, "light", "decoder registry name (`emberxr models --decoders`)"),
            "pretrained": L((bool, str), False, "false, or a local weight file for the decoder"),
            "freeze_epochs": L(INT, 0, "epochs the pretrained decoder stays frozen"),
            "spatial_layers": L(INT, 1, "cross-patch attention layers after the temporal encoder"),
            "decoder_config": L(dict, {}, "extra keyword arguments for the decoder"),
        },
        "options": L(dict, {}, "extra constructor keyword arguments passed to the model as they are"),
    },
    "data": {
        "catalog": L(OPT_STR, "sim-small", "catalog name or path (used when fit gets no data)"),
        "token_cache_dir": L(OPT_STR, None, "patch-token cache directory (null = build tokens on the fly)"),
        "patch_size": L(INT, 16, "patch size p; H and W are padded/cropped to multiples of p"),
        "max_history": L(INT, 6, "longest history fed to the model"),
        "tile_size": L(OPT_INT, None, "train on tiles of this size (null = whole events)"),
        "strict": L(bool, False, "crop to multiples of the patch size instead of padding"),
        "augment": L(bool, False, "random flips/rotations of training samples (wind rotated to match)"),
        "num_workers": L(INT, 0, "DataLoader worker processes"),
        "max_train_samples": L(
            OPT_INT, None, "use at most this many training samples (deterministic subset)"
        ),
        "max_val_samples": L(OPT_INT, None, "use at most this many validation samples"),
    },
    "training": {
        "batch_size": L(INT, 8, "samples per optimisation step (per process under DDP)"),
        "lr_temporal": L(FLOAT, 1e-3, "learning rate of the temporal parameter group"),
        "lr_spatial": L(FLOAT, 1e-4, "learning rate of the spatial (decoder) parameter group"),
        "weight_decay": L(FLOAT, 0.01, "AdamW weight decay (not applied to biases and norms)"),
        "epochs": L(INT, 50, "maximum number of epochs"),
        "steps_per_epoch": L(OPT_INT, None, "optimisation steps per epoch (null = one pass over the data)"),
        "schedule": L(str, "cosine", "learning-rate schedule", choices=("cosine", "plateau", "constant")),
        "warmup_steps": L(INT, 0, "linear warm-up steps before the cosine schedule"),
        "grad_clip": L((float, int, NoneType), 1.0, "clip the gradient norm (null = off)"),
        "early_stopping": L(OPT_INT, 10, "stop after this many epochs without improvement (null = off)"),
        "monitor": L(str, "val/new_ap", "validation metric used for early stopping and the best checkpoint"),
        "monitor_mode": L(
            str, "max", "whether the monitored metric should go up or down", choices=("max", "min")
        ),
        "freeze_epochs": L(OPT_INT, None, "decoder freeze epochs (null = model.spatial.freeze_epochs)"),
        "bce_weight": L(FLOAT, 1.0, "weight of the BCE term"),
        "dice_weight": L(FLOAT, 0.1, "weight of the Dice term"),
        "pos_weight": L((float, int, str), "auto", "BCE positive weight, or 'auto' = negatives/positives"),
        "max_pos_weight": L(FLOAT, 50.0, "upper bound of the automatic pos_weight"),
        "seed": L(INT, 0, "seed for torch, numpy and Python"),
        "amp": L((bool, str), "auto", "mixed precision: true, false or 'auto' (on where supported)"),
        "device": L(str, "auto", "'auto', 'cpu', 'cuda', 'cuda:1' ..."),
        "num_threads": L(OPT_INT, None, "torch CPU threads (null = leave as is)"),
        "output_dir": L(str, "runs", "where run directories (checkpoints, tables) go"),
        "run_name": L(OPT_STR, None, "run directory name (null = <model>-<timestamp>)"),
        "progress": L(bool, True, "tqdm progress bars"),
    },
    "wandb": {
        "enabled": L(bool, True, "log to Weights & Biases (offline unless WANDB_API_KEY is set)"),
        "project": L(str, "emberxr", "W&B project"),
        "entity": L(OPT_STR, None, "W&B entity"),
        "mode": L(OPT_STR, None, "online/offline/disabled (null = offline without an API key)"),
        "name": L(OPT_STR, None, "run name (null = generated from model and key settings)"),
        "tags": L(list, [], "extra tags"),
        "watch": L(bool, False, "wandb.watch the model (gradients)"),
        "log_images": L(bool, True, "log a history/target/prediction preview each validation"),
        "log_artifact": L(bool, True, "upload the best checkpoint as an artifact"),
    },
}

ALIASES = {"train": "training"}


def _defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (copy.deepcopy(v.default) if isinstance(v, _Leaf) else _defaults(v)) for k, v in schema.items()
    }


def _leaf_paths(schema: Mapping[str, Any], prefix: str = "") -> dict[str, _Leaf]:
    out: dict[str, _Leaf] = {}
    for k, v in schema.items():
        key = f"{prefix}{k}"
        if isinstance(v, _Leaf):
            out[key] = v
        else:
            out.update(_leaf_paths(v, key + "."))
    return out


LEAVES = _leaf_paths(SCHEMA)


def default_config() -> dict[str, Any]:
    """A fresh copy of the default configuration (nested dict)."""
    return _defaults(SCHEMA)


def _canonical(key: str) -> str:
    head, _, rest = key.partition(".")
    head = ALIASES.get(head, head)
    return f"{head}.{rest}" if rest else head


def _all_paths(schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in schema.items():
        out.append(f"{prefix}{k}")
        if not isinstance(v, _Leaf):
            out += _all_paths(v, f"{prefix}{k}.")
    return out


def _close(key: str) -> str:
    depth = key.count(".")
    pool = [p for p in _all_paths(SCHEMA) if p.count(".") == depth] or list(LEAVES)
    last = key.rsplit(".", 1)[-1]
    # a right name in the wrong section first, then spelling neighbours
    close = [p for p in LEAVES if p.rsplit(".", 1)[-1] == last]
    close += [c for c in difflib.get_close_matches(key, pool, n=3, cutoff=0.6) if c not in close]
    return (
        f"did you mean {', '.join(repr(c) for c in close[:3])}?"
        if close
        else "see docs/training.md for the keys"
    )


def _type_name(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is NoneType else t.__name__ for t in types)


def _coerce(value: Any, leaf: _Leaf) -> tuple[Any, bool]:
    """Return (value, ok): ints are accepted for floats, text for numbers, booleans and null."""
    types = leaf.types
    if isinstance(value, bool):
        return value, bool in types
    if isinstance(value, int) and float in types:
        return float(value), True
    if isinstance(value, types):
        return value, True
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("null", "none", "~") and NoneType in types:
            return None, True
        if bool in types and low in ("true", "false", "yes", "no"):
            return low in ("true", "yes"), True
        for t in (int, float):
            if t in types:
                try:
                    return t(value), True
                except ValueError:
                    pass
    if isinstance(value, tuple) and list in types:
        return list(value), True
    return value, False


def _check(cfg: Any, schema: Mapping[str, Any], prefix: str, problems: list[Problem]) -> dict[str, Any]:
    out = _defaults(schema)
    if not isinstance(cfg, Mapping):
        problems.append(
            Problem(
                f"{prefix.rstrip('.') or 'config'} must be a mapping, got {type(cfg).__name__}",
                "use `key: value` pairs",
            )
        )
        return out
    for raw_key, value in cfg.items():
        key = ALIASES.get(raw_key, raw_key) if not prefix else raw_key
        path = f"{prefix}{key}"
        spec = schema.get(key)
        if spec is None:
            problems.append(Problem(f"unknown key {path!r}", _close(path)))
            continue
        if isinstance(spec, _Leaf):
            coerced, ok = _coerce(value, spec)
            if not ok:
                problems.append(
                    Problem(
                        f"{path!r} must be {_type_name(spec.types)}, got {type(value).__name__} {value!r}",
                        f"set {path} to a {_type_name(spec.types)} (default {spec.default!r})",
                    )
                )
                continue
            if spec.choices and coerced not in spec.choices:
                problems.append(
                    Problem(f"{path!r} is {coerced!r}", f"use one of {', '.join(map(repr, spec.choices))}")
                )
                continue
            out[key] = copy.deepcopy(coerced)
        else:
            out[key] = _check(value, spec, path + ".", problems)
    return out


def validate_config(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a (partial) configuration and fill in the defaults.

    Parameters
    ----------
    cfg
        Nested mapping; missing keys take their defaults.

    Returns
    -------
    dict
        The complete configuration.

    Raises
    ------
    ConfigError
        Unknown keys (with close matches) or values of the wrong type, all listed at once.
    """
    problems: list[Problem] = []
    out = _check(cfg or {}, SCHEMA, "", problems)
    tr = out["training"]
    for k in ("batch_size", "epochs"):
        if tr[k] < 1:
            problems.append(Problem(f"'training.{k}' is {tr[k]}", "use a positive integer"))
    for k in ("patch_size", "max_history"):
        if out["data"][k] < 1:
            problems.append(Problem(f"'data.{k}' is {out['data'][k]}", "use a positive integer"))
    ts = out["data"]["tile_size"]
    if ts is not None and ts % out["data"]["patch_size"]:
        problems.append(
            Problem(
                f"'data.tile_size' {ts} is not a multiple of 'data.patch_size' {out['data']['patch_size']}",
                "choose a tile size divisible by the patch size",
            )
        )
    if isinstance(tr["pos_weight"], str) and tr["pos_weight"] != "auto":
        problems.append(Problem(f"'training.pos_weight' is {tr['pos_weight']!r}", "use a number or 'auto'"))
    if problems:
        raise ConfigError(problems)
    return out


def _parse_override(item: str) -> tuple[str, Any]:
    import yaml

    if "=" not in item:
        raise ConfigError([Problem(f"override {item!r} has no '='", "write overrides as key.sub=value")])
    key, _, text = item.partition("=")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    return key.strip(), value


def apply_overrides(
    cfg: Mapping[str, Any], overrides: Sequence[str] | Mapping[str, Any] | None
) -> dict[str, Any]:
    """Apply dotted overrides over a configuration and validate the result.

    Parameters
    ----------
    cfg
        Base configuration (nested mapping; may be partial).
    overrides
        ``["model.temporal.d_model=128", ...]`` from the command line, or a flat mapping
        ``{"model.temporal.d_model": 128}`` (W&B sweep or Optuna trial). Values given as text are
        parsed as YAML scalars and coerced to the key's type.

    Returns
    -------
    dict
        The validated, complete configuration.

    Raises
    ------
    ConfigError
        Unknown keys or wrong types, all listed with close matches.
    """
    out = copy.deepcopy(dict(cfg))
    for alias, canonical in ALIASES.items():  # fold `train:` into `training:` before merging
        if isinstance(out.get(alias), Mapping):
            out[canonical] = {**out.pop(alias), **(out.get(canonical) or {})}
    if not overrides:
        return validate_config(out)
    items = (
        list(overrides.items()) if isinstance(overrides, Mapping) else [_parse_override(o) for o in overrides]
    )
    problems: list[Problem] = []
    for raw_key, value in items:
        key = _canonical(str(raw_key))
        if key not in LEAVES:
            # a whole sub-mapping (e.g. "model.options") or a key inside a free-form dict leaf
            parent = next((p for p in LEAVES if key.startswith(p + ".") and LEAVES[p].types == (dict,)), None)
            if parent is None:
                problems.append(Problem(f"unknown key {raw_key!r}", _close(key)))
                continue
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = {}
                node[p] = nxt
            node = nxt
        node[parts[-1]] = value
    if problems:
        try:
            validate_config(out)
        except ConfigError as exc:
            problems += [p for p in exc.problems if p not in problems]
        raise ConfigError(problems)
    return validate_config(out)


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
    if source is None:
        base: Mapping[str, Any] = {}
    elif isinstance(source, Mapping):
        base = source
    else:
        base = read_yaml(source)
    return apply_overrides(base, overrides)


def read_yaml(source: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping from a path (or ``configs/<name>.yaml`` for a bare name)."""
    import yaml

    path = Path(source)
    if not path.exists() and path.suffix == "" and (Path("configs") / f"{path}.yaml").exists():
        path = Path("configs") / f"{path}.yaml"
    if not path.exists():
        raise ConfigError(
            [Problem(f"config file {str(source)!r} does not exist", "give a path to a YAML file")]
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(f"{path} is not valid YAML: {exc}", "fix the YAML syntax")]) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem(f"{path} holds a {type(data).__name__}, not a mapping", "write key: value pairs")]
        )
    return data


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten a nested configuration to dotted keys (for W&B and tables)."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and key in LEAVES and LEAVES[key].types == (dict,):
            out[key] = dict(v)
        elif isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def model_kwargs(cfg: Mapping[str, Any], model_cls: Any, in_static: int) -> dict[str, Any]:
    """Map a configuration to constructor keyword arguments for ``model_cls``.

    ``model.temporal.*`` map to the same names; ``model.spatial.decoder_type -> decoder``,
    ``pretrained -> decoder_weights`` (a path; ``false`` = none), ``decoder_config`` and
    ``spatial_layers`` as they are; ``data.patch_size`` and ``data.max_history`` are always given,
    as is ``in_static``. Keys the constructor does not accept are dropped (a U-Net has no
    ``d_model``), unless it takes ``**kwargs``. ``model.options`` is passed unfiltered.
    """
    m = cfg["model"]
    t, s = m["temporal"], m["spatial"]
    cand: dict[str, Any] = {
        "in_static": int(in_static),
        "patch_size": cfg["data"]["patch_size"],
        "max_history": cfg["data"]["max_history"],
        **{k: v for k, v in t.items() if v is not None},
        "decoder": s["decoder_type"],
        "spatial_layers": s["spatial_layers"],
    }
    if s["decoder_config"]:
        cand["decoder_config"] = dict(s["decoder_config"])
    if isinstance(s["pretrained"], str):
        cand["decoder_weights"] = s["pretrained"]
    try:
        params = inspect.signature(model_cls).parameters
    except (TypeError, ValueError):  # pragma: no cover
        params = {}
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        cand = {k: v for k, v in cand.items() if k in params}
    cand.update(m["options"])
    return cand


def freeze_epochs(cfg: Mapping[str, Any]) -> int:
    """Epochs the decoder stays frozen: ``training.freeze_epochs`` or ``model.spatial.freeze_epochs``."""
    fe = cfg["training"]["freeze_epochs"]
    return int(cfg["model"]["spatial"]["freeze_epochs"] if fe is None else fe)


def describe() -> str:
    """A markdown table of every key, its type, default and meaning (for docs/training.md)."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for k, leaf in LEAVES.items():
        choices = f" ({' / '.join(map(str, leaf.choices))})" if leaf.choices else ""
        rows.append(f"| `{k}` | {_type_name(leaf.types)} | `{leaf.default!r}` | {leaf.help}{choices} |")
    return "\n".join(rows)
