"""One place to list, get, create and register readers, models and decoders by name.

Built-ins are declared as entry points (groups ``emberxr.readers``, ``emberxr.models`` and
``emberxr.decoders`` in ``pyproject.toml``); third-party packages add theirs the same way (see
``docs/plugins.md``). The registries themselves live in :mod:`emberxr.plugins`; this module is the
interface the rest of emberxr and its users call. Nothing heavy is imported until a name is used.
Everywhere a name is accepted, a class (or, for readers, an instance) may be passed instead.

A plugin that fails to import or provides the wrong kind of object is left out of the lists, warns
once (:class:`emberxr.plugins.PluginWarning`) and is reported by :func:`broken_plugins`; asking
for it by name raises :class:`emberxr.errors.PluginError` with the reason.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

from emberxr import plugins
from emberxr.errors import ConfigError, Problem
from emberxr.plugins import BrokenPlugin

__all__ = [
    "BrokenPlugin",
    "broken_plugins",
    "create_decoder",
    "create_model",
    "get_decoder_class",
    "get_model_class",
    "get_reader",
    "list_decoders",
    "list_models",
    "list_readers",
    "register_decoder",
    "register_model",
    "register_reader",
]

_REGISTRIES = {"model": plugins.models, "decoder": plugins.decoders, "reader": plugins.readers}


# -- listing -----------------------------------------------------------------------------------
def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of the available models, optionally filtered by a glob ``pattern``.

    >>> "emberformer" in list_models()
    True
    >>> list_models("u*")
    ['unets', 'utae']
    """
    return plugins.models.names(pattern)


def list_decoders(pattern: str | None = None) -> list[str]:
    """Sorted names of the available spatial decoders, optionally filtered by a glob ``pattern``."""
    return plugins.decoders.names(pattern)


def list_readers(pattern: str | None = None) -> list[str]:
    """Sorted names of the available readers, optionally filtered by a glob ``pattern``.

    >>> {"raw", "zarr"} <= set(list_readers())
    True
    """
    return plugins.readers.names(pattern)


def broken_plugins(kind: str | None = None) -> list[BrokenPlugin]:
    """Plugins that cannot be used, each with its distribution and the reason.

    Parameters
    ----------
    kind
        ``"model"``, ``"decoder"`` or ``"reader"``; None (default) for all three.

    Raises
    ------
    ValueError
        ``kind`` is none of these.
    """
    if kind is not None and kind not in _REGISTRIES:
        raise ValueError(f"kind={kind!r}: use one of {', '.join(_REGISTRIES)} or None")
    kinds = [kind] if kind else list(_REGISTRIES)
    return [b for k in kinds for b in _REGISTRIES[k].broken()]


# -- lookup ------------------------------------------------------------------------------------
def get_model_class(name_or_cls: str | type) -> type:
    """The model class registered under ``name_or_cls`` (a class is returned unchanged).

    Raises
    ------
    UnknownNameError
        Unknown name; the message lists close matches and every available model.
    PluginError
        The name belongs to a broken plugin (the message says why).
    """
    return plugins.models.get(name_or_cls)


def get_decoder_class(name_or_cls: str | type) -> type:
    """The decoder class registered under ``name_or_cls`` (a class is returned unchanged).

    Raises
    ------
    UnknownNameError
        Unknown name (close matches listed).
    PluginError
        The name belongs to a broken plugin.
    """
    return plugins.decoders.get(name_or_cls)


def get_reader(name_or_reader: str | Any) -> Any:
    """A reader ready to use: the one registered under a name, or the given class or instance.

    A registered class is instantiated without arguments.

    Raises
    ------
    UnknownNameError
        Unknown name (close matches listed).
    PluginError
        The name belongs to a broken plugin.
    """
    obj = plugins.readers.get(name_or_reader)
    return obj() if isinstance(obj, type) else obj


# -- creation ----------------------------------------------------------------------------------
def _check_kwargs(cls: type, config: dict[str, Any], kind: str, label: str) -> None:
    """Raise :class:`ConfigError` listing every keyword the constructor does not accept."""
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return
    params = list(sig.parameters.values())[1:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    problems = []
    for key in config:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"accepted: {', '.join(accepted)}"
            problems.append(Problem(f"{kind} {label!r} has no option {key!r}", f"remove it ({hint})"))
    missing = [
        p.name
        for p in params
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in config
    ]
    for key in missing:
        problems.append(Problem(f"{kind} {label!r} needs option {key!r}", f"pass {key}=..."))
    if problems:
        raise ConfigError(problems, subject=f"{kind} {label}")


def create_model(name: str | type, **config: Any) -> Any:
    """Build a model by registry name (or class) from plain keyword arguments.

    Parameters
    ----------
    name
        A name from :func:`list_models` (``"emberformer"``, ``"utae"``, ``"copylast"`` ...) or a
        :class:`emberxr.models.base.FireModel` subclass.
    **config
        ``in_static`` (number of static bands), ``patch_size``, ``max_history`` and the model's
        own hyper-parameters (see ``docs/models.md``). ``model.config`` gives them back, defaults
        included, so ``create_model(name, **model.config)`` rebuilds the same architecture.

    Returns
    -------
    FireModel

    Raises
    ------
    UnknownNameError
        Unknown model name (close matches are listed).
    PluginError
        The name belongs to a broken plugin.
    ConfigError
        Options the model does not accept, or required ones missing (all listed).
    """
    cls = get_model_class(name)
    label = name if isinstance(name, str) else getattr(cls, "__name__", str(cls))
    _check_kwargs(cls, config, "model", label)
    return cls(**config)


def create_decoder(name: str | type, **config: Any) -> Any:
    """Build a spatial decoder by registry name (or class).

    Parameters
    ----------
    name
        A name from :func:`list_decoders` (``"light"``, ``"unet"``, ``"segformer"``, plugins) or a
        :class:`emberxr.decoders.base.FireDecoder` subclass.
    **config
        ``context_channels``, ``fine_channels``, ``patch_size``, ``weights`` and the decoder's
        own options.

    Returns
    -------
    FireDecoder

    Raises
    ------
    UnknownNameError, PluginError, ConfigError
        As for :func:`create_model`.
    """
    cls = get_decoder_class(name)
    label = name if isinstance(name, str) else getattr(cls, "__name__", str(cls))
    _check_kwargs(cls, config, "decoder", label)
    return cls(**config)


# -- registration ------------------------------------------------------------------------------
def register_model(name: str | None = None) -> Callable[[type], type]:
    """Class decorator registering a model in this process (no entry point needed).

    Replacing a name that is taken warns (:class:`emberxr.plugins.PluginWarning`); a class that is
    not a :class:`~emberxr.models.base.FireModel` subclass raises :class:`~emberxr.errors.PluginError`.

    >>> from emberxr.models.base import FireModel
    >>> @register_model("my-model")
    ... class MyModel(FireModel): ...
    >>> plugins.models.unregister("my-model")
    """
    return plugins.models.register(name)


def register_decoder(name: str | None = None) -> Callable[[type], type]:
    """Class decorator registering a spatial decoder (a ``FireDecoder`` subclass) in this process."""
    return plugins.decoders.register(name)


def register_reader(name: str | None = None) -> Callable[[Any], Any]:
    """Decorator registering a reader (class or instance with ``open`` and ``guess_can_open``)."""
    return plugins.readers.register(name)
