"""The reader base class: what a reader plugin implements.

A reader turns source files into one FireEvent (an :class:`xarray.Dataset`, see
``docs/data-model.md``). Subclass :class:`FireReader`, give it a ``name``, a one-line
``description`` and (optionally) a ``priority``, and implement :meth:`FireReader.guess_can_open`
and :meth:`FireReader.open`. Declare it in the ``emberxr.readers`` entry-point group.

Readers without this base class keep working as long as they have ``guess_can_open`` and
``open`` (duck typing, as xarray's backends); they get :data:`DEFAULT_PRIORITY`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import xarray as xr

__all__ = ["BUILTIN_PRIORITY", "DEFAULT_PRIORITY", "FireReader", "reader_priority"]

#: priority of a reader that does not set one (plugins, duck-typed readers)
DEFAULT_PRIORITY = 0
#: priority of the built-in ``zarr`` and ``raw`` readers: guessed before plugins of default priority
BUILTIN_PRIORITY = 50


class FireReader(ABC):
    """Base class of readers: source files -> one FireEvent.

    Attributes
    ----------
    name
        The reader's registry name (the entry-point name users pass as ``reader=``).
    description
        One line shown by ``emberxr.readers.list_readers()``.
    priority
        Order in which :func:`emberxr.readers.guess_reader` asks readers: higher first, ties by
        name. Built-ins use :data:`BUILTIN_PRIORITY` (50); the default is 0, so a plugin is asked
        after the built-ins unless it sets a higher priority (e.g. ``priority = 60`` for a reader
        of folders that also look like raw event folders).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    priority: ClassVar[int] = DEFAULT_PRIORITY

    def guess_can_open(self, path: str | os.PathLike) -> bool:
        """Cheap check (names, headers; never pixels) whether :meth:`open` can read ``path``."""
        return False

    def diagnose(self, path: str | os.PathLike) -> str | None:
        """Why this reader cannot open ``path`` when it almost can (e.g. a file of its layout is
        missing), else None. Shown in the error when no reader recognises a path."""
        return None

    @abstractmethod
    def open(self, path: str | os.PathLike, **kwargs: Any) -> xr.Dataset:
        """Read ``path`` into a FireEvent; raise :class:`emberxr.errors.ReaderError` (never a
        dependency's exception) when the files are wrong, saying what is wrong and how to fix it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def reader_priority(reader: Any) -> int:
    """The guessing priority of a reader class or instance (duck-typed readers: the default)."""
    p = getattr(reader, "priority", DEFAULT_PRIORITY)
    return int(p) if isinstance(p, (int, float)) and not isinstance(p, bool) else DEFAULT_PRIORITY
