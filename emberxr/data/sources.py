"""Data resolution: whatever a user passes as ``data`` becomes ``{split: [FireEvent, ...]}``.

:func:`resolve_splits` is the one place that does it, for :func:`emberxr.fit`,
:meth:`emberxr.Fitted.evaluate`, the CLI (``evaluate``, ``data check``, ``cache build``), the
patch-cache builder and the demo. Accepted forms:

* one FireEvent (:class:`xarray.Dataset`), a list / tuple / iterable of events (items may also be
  paths), an :class:`xarray.DataTree` collection, or a mapping ``event_id -> FireEvent``;
* a split dict ``{"train": ..., "val": ..., "test": ...}`` whose values are any of these, a
  DataTree whose children are splits, or a :class:`~emberxr.catalog.Catalog`;
* a path: an emberxr zarr event store or collection, anything a registered reader recognises
  (a raw event folder, a plugin's format; see :func:`emberxr.readers.guess_reader`), a folder
  whose entries are such events (a folder of raw event folders), or a catalog YAML file;
* a catalog name (``"sim-small"``, see :func:`emberxr.open_catalog`).

Catalogs, split dicts and split trees carry their splits. Everything else is *unsplit*: it is
split by event into train / validation with :func:`split_events` (``auto_split=True``, what
``fit`` does) or returned as the one split :data:`UNSPLIT` (``"all"``). Events opened from files
are lazy (Dask); reader paths are validated as they are opened. The events of a catalog or of a
zarr collection come as an :class:`EventSequence`: a sequence that opens each event when it is
read and keeps only the last few hundred open, so resolving a catalog of many thousands of events
costs only its ids, and its memory does not grow with the number of events.
"""

from __future__ import annotations

import difflib
import functools
import os
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from emberxr.errors import CatalogError, ConfigError, CorruptStoreError, NoReaderError, Problem, ReaderError

__all__ = [
    "SPLITS",
    "UNSPLIT",
    "EventSequence",
    "as_event_list",
    "resolve_split",
    "resolve_splits",
    "split_events",
]

SPLITS = ("train", "val", "test")
UNSPLIT = "all"
FORMS = (
    "pass a FireEvent, a list or DataTree of events, a split dict {'train': ..., 'val': ...}, "
    "a catalog name, or a path (zarr event store, raw event folder, catalog YAML, or anything "
    "a registered reader opens: see emberxr.readers.list_readers())"
)


# -- public ----------------------------------------------------------------------------------------
class EventSequence(Sequence[xr.Dataset]):
    """Events of a store or catalog, opened when read; at most :attr:`KEEP` kept open.

    ``seq[i]`` and iteration open the event (lazily: metadata only) with ``opener(event_id)``.
    The last :attr:`KEEP` events opened stay open (shared with the sequences :meth:`subset` and
    slices give), so a catalog as small as ``sim-small`` is opened once however often it is
    read, while the memory of a catalog of many thousands of events does not grow with its size.

    Parameters
    ----------
    opener
        ``event_id -> FireEvent``.
    ids
        Event ids, in order.
    label
        Where the events come from (for ``repr``).
    """

    #: opened events kept (about 0.1-0.2 MB each: xarray and Dask metadata, no array data)
    KEEP = 256

    def __init__(
        self,
        opener: Callable[[str], xr.Dataset],
        ids: Iterable[str],
        label: str = "",
        _opened: OrderedDict[str, xr.Dataset] | None = None,
    ) -> None:
        self._open = opener
        self.ids = [str(i) for i in ids]
        self.label = label
        self._opened: OrderedDict[str, xr.Dataset] = OrderedDict() if _opened is None else _opened

    def _event(self, eid: str) -> xr.Dataset:
        ev = self._opened.get(eid)
        if ev is not None:
            self._opened.move_to_end(eid)
            return ev
        ev = self._open(eid)
        self._opened[eid] = ev
        while len(self._opened) > self.KEEP:
            self._opened.popitem(last=False)
        return ev

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return EventSequence(self._open, self.ids[i], self.label, self._opened)
        return self._event(self.ids[i])

    def __iter__(self) -> Iterator[xr.Dataset]:
        for eid in self.ids:
            yield self._event(eid)

    def subset(self, indices: Iterable[int]) -> EventSequence:
        """The events at ``indices`` (in that order), opened on access like these."""
        return EventSequence(self._open, [self.ids[int(i)] for i in indices], self.label, self._opened)

    def __repr__(self) -> str:
        return f"<EventSequence of {len(self)} events{' from ' + self.label if self.label else ''}>"


def resolve_splits(
    data: Any,
    *,
    auto_split: bool = True,
    allowed: Collection[str] | None = None,
    required: Collection[str] = (),
    chunks: Any = "auto",
) -> dict[str, list[xr.Dataset]]:
    """Turn any accepted ``data`` into ``{split: [events]}`` (see the module docstring).

    Parameters
    ----------
    data
        Events, a split dict, a DataTree, a ``Catalog``, a catalog name or a path.
    auto_split
        Data without splits: split it by event into ``train`` / ``val`` (:func:`split_events`)
        when True, else return it as the one split ``"all"``.
    allowed
        Split names a split dict (or split tree) may use; another name is an error with close
        matches (catches ``{"tain": ...}``). None accepts any name. Catalog splits are not checked.
    required
        Splits that must hold events after splitting (``fit`` requires ``"train"``).
    chunks
        Dask chunks for zarr stores (see :func:`emberxr.open_events`).

    Returns
    -------
    dict
        Split name → FireEvents in a stable order: a list, or an :class:`EventSequence` for the
        events of a catalog or zarr collection.

    Raises
    ------
    ConfigError
        A form that is not understood, an unknown split name, no events at all, or an empty
        ``required`` split.
    ReaderError
        A path that does not exist or that no reader recognises (the message lists the readers
        tried), or a reader that fails on its files.
    CatalogError
        A catalog name that is unknown or a catalog that is malformed.
    """
    splits, has_splits = _resolve(data, chunks, allowed)
    if not any(splits.values()):
        raise ConfigError([Problem("no events given", "pass at least one FireEvent")], subject="data")
    if not has_splits and auto_split:
        splits = split_events(splits[UNSPLIT])
    empty = [
        Problem(
            f"no events in split {r!r} (the data has {', '.join(splits)})", f"give data with a {r!r} split"
        )
        for r in required
        if not splits.get(r)
    ]
    if empty:
        raise ConfigError(empty, subject="data")
    return splits


def resolve_split(data: Any, split: str = "test", *, chunks: Any = "auto") -> list[xr.Dataset]:
    """The events of one split of ``data``, for evaluation and threshold choice.

    Data with splits (catalogs, split dicts) must have ``split``. Data without splits is used
    whole, except that ``split="train"`` / ``"val"`` pick the part :func:`split_events` gives
    (the events :func:`emberxr.fit` trained / validated on when given the same data).

    Raises
    ------
    ConfigError
        ``data`` has splits but not ``split``, or that split is empty.
    """
    splits = resolve_splits(data, auto_split=False, chunks=chunks)
    if list(splits) == [UNSPLIT]:
        events = splits[UNSPLIT]
        return split_events(events)[split] if split in ("train", "val") else events
    if not splits.get(split):
        have = ", ".join(k for k, v in splits.items() if v)
        what = "no" if split not in splits else "an empty"
        raise ConfigError(
            [Problem(f"the data has {what} {split!r} split (it has {have})", f"pass split= one of {have}")],
            subject="data",
        )
    return splits[split]


def split_events(
    events: list[xr.Dataset], val_fraction: float = 0.2, seed: int = 0
) -> dict[str, list[xr.Dataset]]:
    """Split events (not samples) into ``train`` / ``val``, deterministically.

    About ``val_fraction`` of the events (at least one) go to validation, drawn with
    ``numpy.random.default_rng(seed)``; both parts keep the input order. One event is used for
    both training and validation.
    """
    if not len(events):
        raise ConfigError([Problem("no events given", "pass at least one FireEvent")], subject="data")

    def pick(idx: list[int]) -> Any:
        return events.subset(idx) if isinstance(events, EventSequence) else [events[i] for i in idx]

    if len(events) == 1:
        return {"train": pick([0]), "val": pick([0])}
    order = np.random.default_rng(seed).permutation(len(events))
    n_val = max(1, round(val_fraction * len(events)))
    val = sorted(order[:n_val].tolist())
    train = sorted(order[n_val:].tolist())
    return {"train": pick(train), "val": pick(val)}


def as_event_list(data: Any, chunks: Any = "auto") -> list[xr.Dataset]:
    """Every event of ``data`` in one list (the splits of a catalog or split dict concatenated).

    Accepts every form of :func:`resolve_splits`; a FireEvent gives a one-item list. Data that is
    one :class:`EventSequence` (a zarr collection, one split of a catalog) is returned as it is,
    so its events are still opened one at a time.
    """
    splits, _ = _resolve(data, chunks, None)
    parts = list(splits.values())
    if len(parts) == 1 and isinstance(parts[0], EventSequence):
        return parts[0]
    return [ev for evs in parts for ev in evs]


# -- forms -----------------------------------------------------------------------------------------
def _resolve(
    data: Any, chunks: Any, allowed: Collection[str] | None
) -> tuple[dict[str, list[xr.Dataset]], bool]:
    """``(splits, has_splits)``; unsplit data comes back as ``{UNSPLIT: events}``."""
    if isinstance(data, (str, os.PathLike)):
        return _resolve_path(data, chunks)
    if isinstance(data, EventSequence):
        return {UNSPLIT: data}, False
    if isinstance(data, xr.Dataset):
        return {UNSPLIT: [data]}, False
    if isinstance(data, xr.DataTree):
        nodes = _split_nodes(data)
        if nodes is None:
            return {UNSPLIT: _tree_events(data)}, False
        _check_names(nodes, allowed)
        return {k: _tree_events(v) for k, v in nodes.items()}, True
    if isinstance(data, Mapping):
        if hasattr(data, "events"):  # a Catalog: split -> events opened on access
            return {str(s): data.events(s) for s in data}, True
        keys = [str(k) for k in data]
        values = list(data.values())
        if values and all(isinstance(v, xr.Dataset) for v in values) and not set(keys) & {*SPLITS, UNSPLIT}:
            return {UNSPLIT: values}, False  # event_id -> FireEvent
        _check_names(keys, allowed)
        return {str(k): as_event_list(v, chunks) for k, v in data.items()}, True
    if isinstance(data, Iterable):
        return {UNSPLIT: _items(data, chunks)}, False
    raise ConfigError(
        [Problem(f"data of type {type(data).__name__} is not understood", FORMS)], subject="data"
    )


def _items(items: Iterable[Any], chunks: Any) -> list[xr.Dataset]:
    out: list[xr.Dataset] = []
    problems = []
    for i, item in enumerate(items):
        if isinstance(item, xr.Dataset):
            out.append(item)
        elif isinstance(item, (str, os.PathLike, xr.DataTree)):
            out += as_event_list(item, chunks)
        else:
            problems.append(
                Problem(
                    f"item #{i} is a {type(item).__name__}, not a FireEvent",
                    "give a list of xarray Datasets (FireEvents) or paths to events",
                )
            )
    if problems:
        raise ConfigError(problems, subject="data")
    return out


def _check_names(names: Iterable[str], allowed: Collection[str] | None) -> None:
    if allowed is None:
        return
    problems = []
    for name in names:
        # held-out test splits of a shift catalog (test-windy, test-dry, ...) count as test splits
        if name not in allowed and not ("test" in allowed and name.startswith("test-") and len(name) > 5):
            near = difflib.get_close_matches(name, list(allowed), n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            problems.append(Problem(f"unknown split {name!r}", f"{hint}use keys among {', '.join(allowed)}"))
    if problems:
        raise ConfigError(problems, subject="data")


def _split_nodes(tree: xr.DataTree) -> dict[str, xr.DataTree] | None:
    """The children of a tree whose children are splits (no events at the first level), else None."""
    from emberxr.schema import FIRE

    kids = dict(tree.children)
    if not kids or FIRE in tree.ds.variables or any(FIRE in k.ds.variables for k in kids.values()):
        return None
    if not set(kids) <= {*SPLITS, UNSPLIT}:
        return None
    return {str(k): v for k, v in kids.items()}


def _tree_events(tree: xr.DataTree) -> list[xr.Dataset]:
    from emberxr.io.events import iter_events

    return list(iter_events(tree))


# -- paths -----------------------------------------------------------------------------------------
def _resolve_path(data: str | os.PathLike, chunks: Any) -> tuple[dict[str, list[xr.Dataset]], bool]:
    text = str(data)
    p = Path(text).expanduser()
    if p.suffix in (".yaml", ".yml"):
        return _catalog_splits(p), True
    remote = "://" in text
    if p.exists() or remote:
        target: str | Path = text if remote else p
        events = _events_at(target, chunks)
        if events is None and not remote and p.is_dir():
            events = _events_in_folder(p, chunks)
        if events is None:
            from emberxr.readers import guess_reader

            try:
                guess_reader(target)  # raises NoReaderError naming the readers tried
            except NoReaderError as exc:
                raise NoReaderError(
                    f"{exc} To use a reader that does not recognise the path by itself, open the "
                    "event with emberxr.open_event(path, reader=...) and pass the event."
                ) from None
        return {UNSPLIT: events or []}, False
    if os.sep in text or (os.altsep and os.altsep in text) or p.suffix == ".zarr":
        raise ReaderError(
            f"{text!r} does not exist (relative paths start from {Path.cwd()}). Fix: check the path, "
            "or pass a catalog name (emberxr.list_catalogs())."
        )
    try:
        return _catalog_splits(text), True
    except CatalogError as exc:
        raise CatalogError(f"{text!r} is not an existing file or folder, and {exc}") from None


def _catalog_splits(name_or_path: str | os.PathLike) -> dict[str, list[xr.Dataset]]:
    from emberxr.catalog import open_catalog

    cat = open_catalog(name_or_path)
    return {str(s): cat.events(s) for s in cat}


def _events_at(path: str | os.PathLike, chunks: Any) -> list[xr.Dataset] | None:
    """The events at a path that one registered reader recognises; None when none does.

    The built-in ``zarr`` reader's stores may be collections: all their events are opened
    (lazily). Any other reader opens one event, validated.
    """
    from emberxr.readers import guess_reader, open_event

    try:
        name = guess_reader(path)
    except NoReaderError:
        return None
    if name == "zarr":
        from emberxr.io.events import _is_event_group, check_store, list_event_ids, open_event_store

        problems, _ = check_store(path)  # every damaged event at once, before opening any
        if problems:
            raise CorruptStoreError(problems, str(path))
        if _is_event_group(Path(path)):
            return [open_event_store(path, chunks=chunks, verify=False)]
        opener = functools.partial(_open_group, str(path), chunks)
        return EventSequence(opener, list_event_ids(path), str(path))
    return [open_event(path, reader=name)]


def _open_group(path: str, chunks: Any, event_id: str) -> xr.Dataset:
    from emberxr.io.events import open_event_store

    return open_event_store(path, group=event_id, chunks=chunks, verify=False)


def _events_in_folder(folder: Path, chunks: Any) -> list[xr.Dataset] | None:
    """Events of a folder whose entries are events (e.g. raw event folders), by name order.

    None when no entry is an event. Sub-folders that no reader recognises next to ones that are
    events are an error (never skipped in silence); plain files (notes, catalogs) are ignored.
    """
    entries = sorted(e for e in folder.iterdir() if not e.name.startswith("."))
    found: list[xr.Dataset] = []
    unknown: list[str] = []
    for entry in entries:
        events = _events_at(entry, chunks)
        if events is not None:
            found += events
        elif entry.is_dir():
            unknown.append(entry.name)
    if not found:
        return None
    if unknown:
        shown = ", ".join(unknown[:10]) + (", ..." if len(unknown) > 10 else "")
        raise ReaderError(
            f"{str(folder)!r} holds events, but no reader recognises its sub-folder(s) {shown}. "
            "Fix: complete or remove them (a raw event folder needs terrain.tif and fire/, see "
            "docs/raw-format.md), or pass the event folders one by one."
        )
    return found
