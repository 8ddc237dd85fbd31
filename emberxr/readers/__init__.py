"""Readers: source files -> FireEvent, found through the ``emberxr.readers`` entry-point group.

A reader subclasses :class:`emberxr.readers.base.FireReader` (or, duck-typed as xarray's
backends, just has the same two methods)::

    from emberxr.readers.base import FireReader

    class MyReader(FireReader):
        name = "mine"
        description = "one line shown by emberxr.readers.list_readers()"
        priority = 0                                  # optional; built-ins have 50
        def guess_can_open(self, path) -> bool: ...   # cheap: look at names/headers only
        def open(self, path, **kwargs) -> xr.Dataset: ...

declared in a package's ``pyproject.toml``::

    [project.entry-points."emberxr.readers"]
    mine = "my_pkg.reader:MyReader"

:func:`guess_reader` asks readers in order of decreasing ``priority``, then name, so the
built-ins ``zarr`` (:mod:`emberxr.readers.zarr_reader`) and ``raw``
(:mod:`emberxr.readers.raw_reader`, the folder layout of ``docs/raw-format.md``) come before
plugins of the default priority 0.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import xarray as xr

from ..errors import NoReaderError, ReaderError
from ..registry import list_readers

__all__ = ["guess_reader", "list_readers", "open_event"]


def _instance(obj: Any) -> Any:
    return obj() if isinstance(obj, type) else obj


def _ordered_readers() -> list[tuple[str, Any]]:
    """Loaded readers in guessing order: decreasing priority, then name."""
    from .. import plugins
    from .base import reader_priority

    items = plugins.readers.load_all().items()
    return sorted(items, key=lambda kv: (-reader_priority(kv[1]), kv[0]))


def guess_reader(path: str | os.PathLike) -> str:
    """Name of the first reader whose ``guess_can_open(path)`` is true.

    Readers are asked in order of decreasing ``priority`` (built-ins: 50, default: 0), ties by
    name (see :class:`emberxr.readers.base.FireReader`).

    Raises
    ------
    NoReaderError
        No reader recognises ``path``; the message lists the readers tried and, where a reader
        can tell, what is missing for it (e.g. a raw folder without ``fire/``).
    """
    tried: list[str] = []
    errors: list[str] = []
    hints: list[str] = []
    for name, obj in _ordered_readers():
        tried.append(name)
        reader = _instance(obj)
        try:
            if reader.guess_can_open(path):
                return name
        except Exception as exc:  # a reader's guess must never break the others
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        diagnose = getattr(reader, "diagnose", None)
        if callable(diagnose):
            try:
                why = diagnose(path)
            except Exception:  # a diagnosis is a courtesy; never let it hide the real error
                why = None
            if why:
                hints.append(f"{name}: {why}")
    p = Path(path)
    state = "does not exist" if not p.exists() else ("is a directory" if p.is_dir() else "is a file")
    extra = f" Errors while guessing: {'; '.join(errors)}." if errors else ""
    near = f" Closest: {' '.join(hints)}" if hints else ""
    raise NoReaderError(
        f"no reader recognises {str(path)!r} (it {state}); tried: {', '.join(tried) or '(none)'}.{near}{extra} "
        "Fix: check the path, or pass reader=<name> explicitly (see emberxr.readers.list_readers())."
    )


def open_event(
    path: str | os.PathLike,
    reader: str | Any | None = None,
    *,
    validate: bool = True,
    **kwargs: Any,
) -> xr.Dataset:
    """Open one FireEvent from ``path`` and validate it.

    Parameters
    ----------
    path
        A zarr event store or collection, a raw event folder, or anything a plugin reads.
    reader
        Reader name (``"zarr"``, ``"raw"``, a plugin's name), reader class or instance.
        Default: guessed from the path (:func:`guess_reader`).
    validate
        Run :func:`emberxr.validate` on the result (default True).
    **kwargs
        Passed to the reader's ``open`` (e.g. ``event_id=`` for zarr collections,
        ``fire_band=`` for raw folders).

    Returns
    -------
    xarray.Dataset
        The event.

    Raises
    ------
    UnknownNameError
        ``reader`` names no registered reader (the message lists close matches).
    NoReaderError
        No reader recognises the path.
    ReaderError
        The reader failed on the files.
    EventValidationError
        The event read does not follow the data model.
    """
    from .. import plugins

    if reader is None:
        reader = guess_reader(path)
    name = reader if isinstance(reader, str) else getattr(reader, "name", type(reader).__name__)
    obj = _instance(plugins.readers.get(reader))
    if not Path(path).exists() and not str(path).startswith(("s3:", "gs:", "http:", "https:")):
        raise ReaderError(f"{str(path)!r} does not exist. Fix: check the path.")
    ds = obj.open(path, **kwargs)
    if not isinstance(ds, xr.Dataset):
        raise ReaderError(f"reader {name!r} returned {type(ds).__name__}, not an xarray.Dataset")
    if validate:
        from ..validate import validate as _validate

        _validate(ds)
    return ds
