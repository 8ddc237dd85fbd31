"""The model and decoder registries: list, create and register by name.

Built-in models and decoders are declared as entry points (groups ``emberxr.models`` and
``emberxr.decoders`` in ``pyproject.toml``); third-party packages add theirs the same way
(see ``docs/plugins.md``). Groups are read lazily, like xarray reads its backends: nothing is
imported until a name is asked for, and a broken or duplicate plugin emits a
:class:`emberxr.plugins.PluginWarning` and is skipped. Everywhere a name is accepted, a class may
be passed instead.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

from emberxr import plugins
from emberxr.errors import ConfigError, Problem

__all__ = [
    "create_decoder",
    "create_model",
    "get_decoder_class",
    "get_model_class",
    "list_decoders",
    "list_models",
    "register_decoder",
    "register_model",
]


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of the available models, optionally filtered by a glob ``pattern``.

    >>> "emberformer" in list_models()
    True
    >>> list_models("u*")
    ['unets', 'utae']
    """
    return plugins.models.names(pattern)


def list_decoders(pattern: str | None = None) -> list[str]:
    """Sorted names of the available spatial decoders (``emberxr.decoders`` entry points)."""
    return plugins.decoders.names(pattern)


def get_model_class(name_or_cls: str | type) -> type:
    """The model class registered under ``name_or_cls`` (a class is returned unchanged).

    Raises
    ------
    UnknownNameError
        Unknown name; the message lists close matches and every available model.
    """
    return plugins.models.get(name_or_cls)


def get_decoder_class(name_or_cls: str | type) -> type:
    """The decoder class registered under ``name_or_cls`` (a class is returned unchanged)."""
    return plugins.decoders.get(name_or_cls)


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
        own hyper-parameters (see ``docs/models.md``). ``model.config`` gives them back.

    Returns
    -------
    FireModel

    Raises
    ------
    UnknownNameError
        Unknown model name (close matches are listed).
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
    """
    cls = get_decoder_class(name)
    label = name if isinstance(name, str) else getattr(cls, "__name__", str(cls))
    _check_kwargs(cls, config, "decoder", label)
    return cls(**config)


def register_model(name: str | None = None) -> Callable[[type], type]:
    """Class decorator registering a model in this process (no entry point needed).

    >>> from emberxr.models.base import FireModel
    >>> @register_model("my-model")
    ... class MyModel(FireModel): ...
    """
    return plugins.models.register(name)


def register_decoder(name: str | None = None) -> Callable[[type], type]:
    """Class decorator registering a spatial decoder in this process."""
    return plugins.decoders.register(name)
