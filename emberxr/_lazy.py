"""Lazy package namespaces (PEP 562), shared by ``emberxr`` and its sub-packages."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_namespace(
    package: str, table: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Build ``__getattr__``, ``__dir__`` and ``__all__`` for a lazily importing package.

    Parameters
    ----------
    package
        The package's name, for error messages.
    table
        Public name → ``"module"`` (attribute of the same name), ``"module:attr"``, or ``"module:"``
        (the module itself).
    namespace
        The package's ``globals()``; a resolved name is cached there.
    """

    def __getattr__(name: str) -> Any:
        try:
            target = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module_name, sep, attr = target.partition(":")
        module = importlib.import_module(module_name)
        value = module if (sep and not attr) else getattr(module, attr or name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__, sorted(table)
