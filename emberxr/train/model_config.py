"""The model section of a training configuration: options that belong to the model.

``model: {name, preset, <options>}`` — every option is a keyword argument of the model's
constructor. This module checks them against the class (signature, type annotations, named
``presets``), turns a validated configuration into constructor arguments (:func:`model_kwargs`) and
builds the model without data (:func:`check_model_build`) so that the model's own checks run before
any data is read. It knows no model by name: everything comes from the class the registry returns.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import types
import typing
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from emberxr.errors import ConfigError, EmberxrError, Problem

#: constructor arguments the data provides (never set in the model section)
DATA_OWNED = {
    "in_static": "remove it: in_static is the number of static bands of the training data",
    "in_dynamic": "remove it: in_dynamic is the number of dynamic bands of the training data",
    "patch_size": "set data.patch_size instead",
    "max_history": "set data.max_history instead",
}


def show_value(value: Any) -> str:
    """``repr`` of a user value, shortened for messages."""
    text = repr(value)
    return (text[:60] + "...") if len(text) > 60 else text


def get_model_class(name: str) -> type:
    """The model class of a registry name (raises :class:`~emberxr.errors.UnknownNameError`)."""
    from emberxr.registry import get_model_class as lookup

    return lookup(name)


@functools.lru_cache(maxsize=64)
def _signature(cls: type) -> tuple[dict[str, inspect.Parameter], bool]:
    """The keyword parameters of ``cls.__init__`` and whether it takes ``**kwargs``."""
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return {}, True
    named = {p.name: p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def model_option_names(cls: type) -> list[str]:
    """Options a config may set for ``cls``: its constructor keywords except the data-owned ones."""
    named, _ = _signature(cls)
    return [n for n in named if n not in DATA_OWNED]


@functools.lru_cache(maxsize=64)
def _hints(cls: type) -> dict[str, Any]:
    """Resolved type annotations of ``cls.__init__`` (unresolvable ones are left out)."""
    init = cls.__init__
    try:
        return dict(typing.get_type_hints(init))
    except Exception:
        out = {}
        module = inspect.getmodule(init)
        ns = vars(module) if module else {}
        for name, ann in getattr(init, "__annotations__", {}).items():
            try:
                out[name] = eval(ann, ns) if isinstance(ann, str) else ann
            except Exception:
                continue
        return out


@functools.lru_cache(maxsize=256)
def _adapter(cls: type, name: str) -> TypeAdapter | None:
    hint = _hints(cls).get(name)
    if hint is None or hint is Any:
        return None
    try:
        return TypeAdapter(hint)
    except Exception:  # a type pydantic cannot check (e.g. a class): left to the constructor
        return None


def _allows_bool(hint: Any) -> bool:
    if hint is bool or hint is Any:
        return True
    return any(_allows_bool(a) for a in typing.get_args(hint)) if _is_union(hint) else False


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def type_text(hint: Any) -> str:
    """A type annotation in words (``int | None`` -> ``an integer or null``)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return "any value"
    if hint is type(None) or hint is None:
        return "null"
    if _is_union(hint):
        return " or ".join(dict.fromkeys(type_text(a) for a in args))
    if origin is Literal:
        return " / ".join(repr(a) for a in args)
    if origin in (list, tuple, Sequence, set, frozenset):
        inner = type_text(args[0]) if args else "values"
        return f"a list of {inner.removeprefix('an ').removeprefix('a ')}s" if args else "a list"
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "text"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def validate_options(
    cls: type,
    name: str,
    preset: Any,
    options: Mapping[str, Any],
    problems: list[Problem],
    other_keys: Sequence[str] = (),
    renamed_from: str | None = None,
) -> dict[str, Any]:
    """Check a model's preset and options against its class; returns the checked options.

    Parameters
    ----------
    cls, name
        The model class and its registry name.
    preset
        ``model.preset`` (None or one of ``cls.presets``).
    options
        Every other key of the model section.
    problems
        Where each problem is appended: an unknown preset or option (with close matches among the
        model's options and among ``other_keys``, e.g. ``training.epochs`` for ``model.epochs``), a
        data-owned option, a value that does not fit the constructor's annotation, a missing
        required option.
    renamed_from
        The model the configuration was written for, when ``fit(model=...)`` replaced it.
    """
    named, var_kw = _signature(cls)
    presets = dict(getattr(cls, "presets", None) or {})
    if preset is not None and (not isinstance(preset, str) or preset not in presets):
        known = ", ".join(map(repr, presets)) or "none"
        close = difflib.get_close_matches(str(preset), list(presets), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.append(
            Problem(f"'model.preset' is {show_value(preset)}", f"{hint}model {name!r} has presets: {known}")
        )
    accepted = model_option_names(cls)
    out: dict[str, Any] = {}
    for key, value in options.items():
        path = f"model.{key}"
        if key in DATA_OWNED:
            problems.append(Problem(f"{path!r} is set by the data, not the model section", DATA_OWNED[key]))
            continue
        if key not in named and not var_kw:
            close = difflib.get_close_matches(key, accepted, n=3, cutoff=0.6)
            elsewhere = [p for p in other_keys if p.rsplit(".", 1)[-1] == key]
            hints = [repr(f"model.{c}") for c in close] + [repr(p) for p in elsewhere]
            fix = (
                f"did you mean {', '.join(hints)}?"
                if hints
                else f"its options are {', '.join(accepted) or '(none)'}"
            )
            if renamed_from and renamed_from != name:
                fix += f" (the config's options were written for model {renamed_from!r})"
            problems.append(Problem(f"model {name!r} has no option {key!r} ({path!r})", fix))
            continue
        adapter = _adapter(cls, key) if key in named else None
        if adapter is None:
            out[key] = copy.deepcopy(value)
            continue
        hint = _hints(cls)[key]
        try:
            if isinstance(value, bool) and not _allows_bool(hint):
                raise ValueError("bool")
            checked = adapter.validate_python(value)
        except (ValidationError, ValueError):
            problems.append(
                Problem(
                    f"{path!r} is {show_value(value)}",
                    f"use {type_text(hint)} (the type of {name}'s {key!r}; default {named[key].default!r})",
                )
            )
            continue
        # keep the caller's containers (JSON/YAML-able), take coerced scalars ("64" -> 64)
        out[key] = copy.deepcopy(value) if isinstance(value, (list, tuple, dict)) else checked
    if not var_kw:
        given = set(options) | set(presets.get(preset, {}) if isinstance(preset, str) else {})
        for n, p in named.items():
            if p.default is inspect.Parameter.empty and n not in DATA_OWNED and n not in given:
                problems.append(Problem(f"model {name!r} needs option {n!r}", f"set model.{n}"))
    return out


def model_options(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The model's options of a validated config: its preset's values, then the explicit options."""
    m = cfg["model"]
    cls = get_model_class(m["name"])
    preset = dict((getattr(cls, "presets", None) or {}).get(m.get("preset"), {})) if m.get("preset") else {}
    return {
        **copy.deepcopy(preset),
        **{k: copy.deepcopy(v) for k, v in m.items() if k not in ("name", "preset")},
    }


def model_kwargs(
    cfg: Mapping[str, Any], model_cls: Any, in_static: int, in_dynamic: int = 0
) -> dict[str, Any]:
    """Constructor keyword arguments of ``model_cls`` from a validated configuration.

    ``in_static`` and ``in_dynamic`` (feature channels of the data), ``data.patch_size`` and
    ``data.max_history`` are given when the constructor takes them (``in_dynamic`` only when it is
    not 0, so models without dynamic bands keep the configuration they always had); then the
    preset's options, overridden by the explicit ones (and ``preset`` itself when the constructor
    has such an argument). A model that does not take ``in_dynamic`` while the data has dynamic
    bands is built without them, with a warning.
    """
    named, var_kw = _signature(model_cls)
    d = cfg["data"]
    common: dict[str, Any] = {
        "in_static": int(in_static),
        "patch_size": d["patch_size"],
        "max_history": d["max_history"],
    }
    if in_dynamic:
        common["in_dynamic"] = int(in_dynamic)
        if "in_dynamic" not in named and not var_kw:
            warnings.warn(
                f"model {cfg['model']['name']!r} takes no in_dynamic argument: the data's {in_dynamic} "
                "dynamic feature channel(s) are not used by it",
                stacklevel=2,
            )
    out = {k: v for k, v in common.items() if k in named or var_kw}
    preset = cfg["model"].get("preset")
    if preset is not None and "preset" in named:
        out["preset"] = preset
    out.update(model_options(cfg))
    return out


def build_model(cfg: Mapping[str, Any], stats: Any) -> Any:
    """The configured model, sized for the data that ``stats`` (a ``NormStats``) describes.

    ``in_static`` / ``in_dynamic`` come from the statistics (:func:`model_kwargs`), and the data's
    channel names are known while the model is built, so pretrained weight files are matched to
    the input channels by name (:mod:`emberxr.channels`).
    """
    from emberxr.channels import channel_names
    from emberxr.registry import create_model

    name = cfg["model"]["name"]
    kwargs = model_kwargs(cfg, get_model_class(name), stats.n_static, stats.n_dynamic)
    with channel_names(static=stats.feature_names, dynamic=stats.dynamic_feature_names):
        return create_model(name, **kwargs)


def _dry_build(cfg: Mapping[str, Any]) -> Any:
    """The configured model built without data (``in_static=1`` standing in for the data's band
    count): on the ``meta`` device (no memory, no computation), on the CPU when the model cannot
    be built on ``meta``. Warnings of the dry build (e.g. "copying into a meta parameter is a
    no-op") are silenced. An :class:`~emberxr.errors.EmberxrError` of the constructor is raised at
    once; any other exception, that of the CPU build."""
    import torch

    cls = get_model_class(cfg["model"]["name"])
    for device in ("meta", "cpu"):
        try:
            with torch.device(device), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return cls(**model_kwargs(cfg, cls, in_static=1))
        except EmberxrError:
            raise
        except Exception:
            if device == "cpu":
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _build_problems(name: str, exc: BaseException) -> list[Problem]:
    """What a dry build's exception says about the configuration of model ``name``."""
    if isinstance(exc, ConfigError):
        return [Problem(f"model {name!r}: {p.what}", p.fix) for p in exc.problems]
    if isinstance(exc, EmberxrError):
        return [
            Problem(
                f"model {name!r} cannot be built: {exc}",
                "see the message: give the model what it names, or change the option",
            )
        ]
    return [
        Problem(
            f"model {name!r} cannot be built from its options ({type(exc).__name__}: {str(exc)[:300]})",
            "check the model section against the model's documented options",
        )
    ]


def check_model_build(cfg: Mapping[str, Any]) -> list[Problem]:
    """Build the configured model without data and return what its constructor objects to.

    The model is built on the ``meta`` device (no memory, no computation; with ``in_static=1``
    standing in for the data's band count) — on the CPU when the model cannot be built on ``meta``
    — so checks that only the model can make (``nhead`` dividing ``d_model``, a decoder's weight
    file) run before any data is read.
    """
    try:
        _dry_build(cfg)
    except Exception as exc:
        return _build_problems(cfg["model"]["name"], exc)
    return []


def resolved_model(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What the configured model is once every default is filled in, to tell two builds apart.

    The model is built without data (as :func:`check_model_build` does) and described by the
    recorded constructor arguments of every :class:`~emberxr.configurable.Configurable` part
    (the model and its decoder, defaults included) and a digest of its parameter names and
    shapes. Two configurations with the same text give different descriptions when a default
    changed between library versions (a decoder's widths, say).

    Parameters
    ----------
    cfg
        A validated configuration (:func:`emberxr.train.config.build_config`).

    Returns
    -------
    dict
        ``{"modules": {"<path>": constructor arguments}, "parameters": "<sha256 hex>"}``, JSON-able;
        the model's own path is ``"model"``.

    Raises
    ------
    ConfigError
        The model cannot be built from the configuration.
    """
    import hashlib

    from emberxr.configurable import Configurable

    try:
        model = _dry_build(cfg)
    except EmberxrError:
        raise
    except Exception as exc:
        raise ConfigError(_build_problems(cfg["model"]["name"], exc)) from None
    modules = {name or "model": m.config for name, m in model.named_modules() if isinstance(m, Configurable)}
    shapes = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    return {"modules": modules, "parameters": hashlib.sha256(shapes.encode()).hexdigest()}
