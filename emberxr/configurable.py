"""Constructor arguments recorded once, by the base class of models and decoders.

A checkpoint stores a model as ``(registry name, constructor keyword arguments)`` and rebuilds it
with ``emberxr.create_model(name, **config)``. Rather than have every class restate its arguments,
:class:`Configurable` wraps the ``__init__`` of each subclass when the class is defined
(``__init_subclass__``): when an object is built, the outermost constructor binds its arguments to
its signature, applies the defaults, turns them into plain JSON values and keeps them;
:attr:`Configurable.config` gives a copy back. Constructors further down a subclass chain
(``super().__init__(...)``) record nothing.

What becomes of each argument value:

- ``None``, ``bool``, ``int``, ``float``, ``str``: kept;
- tuples and lists become lists, mappings become dicts (copied, so changing the caller's dict
  later changes nothing), numpy scalars become Python numbers, paths become strings;
- a class registered as a model, decoder or reader (e.g. a decoder class passed as ``decoder=``)
  becomes its registry name, which rebuilds the same thing;
- anything else (a tensor, a module, an unregistered class) is kept as given for the object itself,
  and reading :attr:`Configurable.config` raises :class:`emberxr.errors.ConfigError` naming it,
  because such a value cannot go into a ``weights_only`` checkpoint.
"""

from __future__ import annotations

import copy
import functools
import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from emberxr.errors import ConfigError, Problem

__all__ = ["Configurable"]

_BUSY = "_emberxr_building"  # instance flag: an outer constructor is recording


class Configurable:
    """Mixin recording the constructor keyword arguments of every subclass.

    Subclasses write an ordinary ``__init__`` with keyword arguments (``**kwargs`` is allowed; its
    items are recorded at the top level); nothing else is needed. Override
    :meth:`_config_recorded` to derive instance state from the recorded arguments.

    Examples
    --------
    >>> class Scaler(Configurable):
    ...     def __init__(self, factor: float = 2.0, sizes: tuple[int, ...] = (1, 2)):
    ...         self.factor = factor
    >>> Scaler(factor=3).config
    {'factor': 3, 'sizes': [1, 2]}
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_emberxr_records", False):
            cls.__init__ = _recording(init)  # type: ignore[method-assign]

    @property
    def config(self) -> dict[str, Any]:
        """The constructor keyword arguments (plain JSON values) that rebuild this object.

        Raises
        ------
        ConfigError
            An argument has no JSON form (a tensor, a module, an unregistered class); the
            message names each one and how to pass it instead.
        """
        problems = self.__dict__.get("_config_problems") or []
        if problems:
            raise ConfigError(problems, subject=f"config of {type(self).__name__}")
        return copy.deepcopy(self.__dict__.get("_config") or {})

    def _config_recorded(self) -> None:
        """Hook run once after the outermost constructor returned and the arguments were recorded."""


def _recording(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a subclass ``__init__`` so that the outermost call records its bound arguments."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        state = self.__dict__
        if state.get(_BUSY):  # an inner constructor of the chain: the outer one records
            init(self, *args, **kwargs)
            return
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            init(self, *args, **kwargs)  # raises Python's own message about the arguments
            raise
        bound.apply_defaults()
        # convert before __init__ runs: it may change a list or dict it was given
        config, problems = _record(type(self).__name__, signature, bound)
        state[_BUSY] = True
        try:
            init(self, *args, **kwargs)
        finally:
            state.pop(_BUSY, None)
        state["_config"] = config
        state["_config_problems"] = problems
        self._config_recorded()

    __init__._emberxr_records = True  # type: ignore[attr-defined]
    return __init__


def _record(
    owner: str, signature: inspect.Signature, bound: inspect.BoundArguments
) -> tuple[dict[str, Any], list[Problem]]:
    config: dict[str, Any] = {}
    problems: list[Problem] = []
    params = list(signature.parameters.values())[1:]  # drop self
    for param in params:
        if param.name not in bound.arguments:
            continue
        value = bound.arguments[param.name]
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            for key, item in value.items():
                config[key] = _plain(item, f"{owner} argument {key!r}", problems)
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                problems.append(
                    Problem(
                        f"{owner} was given {len(value)} extra positional argument(s) (*{param.name})",
                        "give every constructor argument a name, so create_model(name, **config) can pass it",
                    )
                )
        elif param.kind is inspect.Parameter.POSITIONAL_ONLY:
            problems.append(
                Problem(
                    f"{owner} argument {param.name!r} is positional-only",
                    "make it a keyword argument, so create_model(name, **config) can pass it",
                )
            )
        else:
            config[param.name] = _plain(value, f"{owner} argument {param.name!r}", problems)
    return config, problems


def _plain(value: Any, where: str, problems: list[Problem]) -> Any:
    """``value`` as plain JSON data (see the module docstring); a problem is noted otherwise."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and isinstance(value.item(), (bool, int, float, str)):
        return value.item()
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        return path if isinstance(path, str) else _unsupported(value, where, problems)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(
                    Problem(
                        f"{where} has the key {key!r} ({type(key).__name__})",
                        "use string keys (JSON turns other keys into strings)",
                    )
                )
            out[key] = _plain(item, f"{where}[{key!r}]", problems)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]", problems) for i, item in enumerate(value)]
    if isinstance(value, type):
        name = _registered_name(value)
        if name is not None:
            return name
    return _unsupported(value, where, problems)


def _unsupported(value: Any, where: str, problems: list[Problem]) -> Any:
    if isinstance(value, type):
        problems.append(
            Problem(
                f"{where} is the class {value.__module__}.{value.__qualname__}, which is not registered",
                "register it (emberxr.register_model / register_decoder) or install it as a plugin, "
                "then pass its registry name",
            )
        )
    else:
        problems.append(
            Problem(
                f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which a checkpoint cannot store",
                "pass plain values (numbers, strings, lists, dicts, registry names) and build objects "
                "inside __init__",
            )
        )
    return value


def _registered_name(cls: type) -> str | None:
    from emberxr import plugins

    for registry in (plugins.decoders, plugins.models, plugins.readers):
        name = registry.name_of(cls)
        if name is not None:
            return name
    return None
