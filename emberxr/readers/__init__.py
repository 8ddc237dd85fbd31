"""Readers: source files -> FireEvent, found through the ``emberxr.readers`` entry-point group.

A reader is a class (or instance) with two methods, as in xarray's backends::

    class MyReader:
        description = "one line shown by emberxr.readers.list_readers()"
        def guess_can_open(self, path) -> bool: ...   # cheap: look at names/metadata only
        def open(self, path, **kwargs) -> xr.Dataset: ...

declared in a package's ``pyproject.toml``::

    [project.entry-points."emberxr.readers"]
    mine = "my_pkg.reader:MyReader"

Built-ins: ``zarr`` (:mod:`emberxr.readers.zarr_reader`) and ``raw``
(:mod:`emberxr.readers.raw_reader`, the folder layout of ``docs/raw-format.md``).
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


def guess_reader(path: str | os.PathLike) -> str:
    """Name of the first reader (in name order) whose ``guess_can_open(path)`` is true.

    Raises
    ------
    NoReaderError
        No reader recognises ``path``; the message lists the readers tried.
    """
    from .. import plugins

    tried: list[str] = []
    errors: list[str] = []
    for name, obj in sorted(plugins.readers.load_all().items()):
        tried.append(name)
        try:
            if _instance(obj).guess_can_open(path):
                return name
        except Exception as exc:  # a reader's guess must never break the others
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    p = Path(path)
    state = "does not exist" if not p.exists() else ("is a directory" if p.is_dir() else "is a file")
    extra = f" Errors while guessing: {'; '.join(errors)}." if errors else ""
    raise NoReaderError(
        f"no reader recognises {str(path)!r} (it {state}); tried: {', '.join(tried) or '(none)'}.{extra} "
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
