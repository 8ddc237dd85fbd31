"""Event collections on disk: one zarr (v3) store, one group per event.

Layout::

    events.zarr/
        zarr.json              root group, attrs {"emberxr": {"kind": "event_collection", "version": 1}}
        <event_id>/            one group per FireEvent (fire, static, wind_u, wind_v, valid, ...)
        <event_id>/ ...

Groups are discovered by listing the store's directory (no consolidated metadata), so adding one
group never rewrites the root or the other groups. Each group is written into a hidden temporary
directory inside the store and renamed into place only once complete; an interrupted append
leaves the earlier events intact and readable (stale ``.<id>.tmp-*`` directories are ignored and
removed by the next append once their writer process is gone). Appends of different event ids
may run in parallel processes; two writers must not write the same id at once.

Each event group records in its attributes which chunks were written
(:mod:`emberxr.io.integrity`); opening an event compares the chunk files present with that
record, so a chunk lost after writing raises :class:`~emberxr.errors.CorruptStoreError` instead
of reading as empty fire or NaN layers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rioxarray  # noqa: F401  (events we return carry the .rio accessor)
import xarray as xr

from ..atomic import atomic_path, remove_stale_temporaries
from ..errors import CorruptStoreError, Problem, ReaderError, WriteError
from ..schema import BAND, BAND_KIND, DBAND, DBAND_KIND, FIRE
from .integrity import CHUNKS_ATTR, check_group, read_json, write_chunk_record

__all__ = [
    "check_store",
    "is_zarr_store",
    "iter_events",
    "list_event_ids",
    "open_event_store",
    "open_events",
    "save_event",
    "save_events",
]

COLLECTION_ATTR = "emberxr"
_ROOT_ATTRS = {COLLECTION_ATTR: {"kind": "event_collection", "version": 1}}
_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_STRING_COORDS = (BAND, BAND_KIND, DBAND, DBAND_KIND)
_SPATIAL_CHUNK = 256
_TIME_CHUNK = 8


# -- helpers -----------------------------------------------------------------------------------------

STORED = "stored"
"""``chunks=STORED`` (the default of the openers): one Dask chunk per stored zarr chunk."""


def _node_type(p: Path) -> str | None:
    """``"group"``/``"array"``/None; a ``zarr.json`` that is not JSON raises CorruptStoreError."""
    meta = read_json(p / "zarr.json") if p.is_dir() else None
    return meta.get("node_type") if meta else None


def _is_event_group(p: Path) -> bool:
    return p.is_dir() and _node_type(p) == "group" and _node_type(p / FIRE) == "array"


def is_zarr_store(path: str | os.PathLike) -> bool:
    """True when ``path`` is an existing zarr store (it may or may not hold FireEvents).

    A store is a directory holding zarr v3 metadata (``zarr.json``) or zarr v2 metadata
    (``.zgroup`` / ``.zarray``), or an existing directory named ``*.zarr``. Only names are looked
    at, no array data is read. This is the one test emberxr uses to tell a zarr store from a raw
    event folder, a catalog name or another reader's path.
    """
    p = Path(path)
    if not p.is_dir():
        return False
    return p.suffix == ".zarr" or any((p / name).is_file() for name in ("zarr.json", ".zgroup", ".zarray"))


def _default_encoding(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    from zarr.codecs import ZstdCodec

    enc: dict[str, dict[str, Any]] = {}
    for name, var in ds.data_vars.items():
        if var.ndim == 0:
            continue
        chunks = tuple(_chunk_size(str(d), n) for d, n in var.sizes.items())
        # the zstd frame checksum makes a corrupted chunk fail to decode instead of reading garbage
        enc[str(name)] = {"compressors": (ZstdCodec(level=3, checksum=True),), "chunks": chunks}
    return enc


def _chunk_size(dim: str, n: int) -> int:
    if dim in ("y", "x"):
        return min(n, _SPATIAL_CHUNK)
    if dim == "time":
        return min(n, _TIME_CHUNK)
    return n


def _prepare(ds: xr.Dataset, event_id: str) -> xr.Dataset:
    """A copy ready for zarr: fresh encodings, variable-length strings, event_id attr set."""
    out = ds.copy(deep=False)
    for name in list(out.variables):
        gm = out[name].encoding.get("grid_mapping")
        out[name].encoding = {}
        if gm is not None and gm in out.variables:  # an attribute, so explicit encodings keep it
            out[name].attrs = {**out[name].attrs, "grid_mapping": gm}
    coords = {
        c: out[c].astype(object) for c in _STRING_COORDS if c in out.coords and out[c].dtype.kind in "UOT"
    }
    if coords:
        out = out.assign_coords(coords)
    out.attrs = {k: v for k, v in out.attrs.items() if k != CHUNKS_ATTR} | {"event_id": event_id}
    return out


def _merged_encoding(ds: xr.Dataset, encoding: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    enc = _default_encoding(ds)
    for name, over in (encoding or {}).items():
        if name not in ds.variables:
            continue  # overrides apply to the events that have this variable
        enc.setdefault(name, {}).update(dict(over))
    return enc


def _write_group(ds: xr.Dataset, dest: Path, encoding: Mapping[str, Mapping[str, Any]] | None) -> None:
    enc = _merged_encoding(ds, encoding)
    for name, e in enc.items():
        var = ds[name]
        if var.chunks is not None and "chunks" in e:  # align Dask chunks with the zarr chunks
            ds[name] = var.chunk(dict(zip(var.dims, e["chunks"])))
    ds.to_zarr(dest, mode="w", consolidated=False, zarr_format=3, encoding=enc)
    write_chunk_record(dest)  # which chunks exist now: a later loss is detected on open


def _check_id(event_id: Any) -> list[str]:
    if not isinstance(event_id, str) or not _ID_RE.match(event_id) or event_id.startswith("__"):
        return [
            f"event_id {event_id!r} cannot name a zarr group: use letters, digits, '_', '-', '.' "
            "(not starting with '.' or '__', no '/')"
        ]
    return []


def _as_mapping(events: Any) -> dict[str, xr.Dataset]:
    if isinstance(events, xr.Dataset):
        events = [events]
    if isinstance(events, xr.DataTree):
        return {str(k): node.to_dataset() for k, node in events.children.items()}
    if isinstance(events, Mapping):
        out = dict(events)
    else:
        out = {}
        problems = []
        for i, ev in enumerate(events):
            eid = ev.attrs.get("event_id") if isinstance(ev, xr.Dataset) else None
            if eid is None:
                problems.append(f"event #{i} has no attrs['event_id']; set it or pass a mapping id -> event")
            elif eid in out:
                problems.append(f"event_id {eid!r} appears more than once; event ids must be unique")
            else:
                out[eid] = ev
        if problems:
            raise WriteError("cannot save the events: " + "; ".join(problems))
    problems = [p for k in out for p in _check_id(k)]
    problems += [
        f"{k!r} is a {type(v).__name__}, not an xarray.Dataset"
        for k, v in out.items()
        if not isinstance(v, xr.Dataset)
    ]
    if problems:
        raise WriteError("cannot save the events: " + "; ".join(problems))
    return out


# -- public API ----------------------------------------------------------------------------------------
def save_events(
    events: Mapping[str, xr.Dataset] | Iterable[xr.Dataset] | xr.DataTree,
    path: str | Path,
    *,
    mode: Literal["w", "a"] = "w",
    encoding: Mapping[str, Mapping[str, Any]] | None = None,
    check: bool = True,
) -> Path:
    """Save FireEvents as a zarr event collection (one group per event).

    Parameters
    ----------
    events
        Mapping ``event_id -> Dataset``, a sequence of Datasets (ids from ``attrs["event_id"]``)
        or a DataTree (one child per event).
    path
        Store directory, conventionally ``*.zarr``.
    mode
        ``"w"``: write a new store, replacing any old one only once the new one is complete.
        ``"a"``: add (or replace) these groups in an existing collection, one group at a time,
        leaving the other groups untouched; creates the store if it does not exist.
    encoding
        Per-variable zarr encoding overrides on top of the defaults (zstd level 3, chunks of up
        to 8 time steps × 256 × 256 cells), e.g. ``{"static": {"dtype": "float16"}}``.
    check
        Validate every event before writing anything (:func:`emberxr.validate`).

    Returns
    -------
    pathlib.Path
        The store path.

    Raises
    ------
    WriteError
        Bad or duplicate event ids, or ``mode`` not ``"w"``/``"a"``.
    EventValidationError
        An event is invalid (with ``check=True``).
    ReaderError
        ``mode="a"`` on a path that exists but is not an event collection.
    """
    if mode not in ("w", "a"):
        raise WriteError(f"mode must be 'w' (new store) or 'a' (add groups), got {mode!r}")
    items = _as_mapping(events)
    if check:
        from ..validate import validate

        for ev in items.values():
            validate(ev)
    path = Path(path)
    if mode == "a" and path.exists():
        list_event_ids(path, allow_empty=True)  # raises ReaderError if not a collection
        remove_stale_temporaries(path)  # groups of appends killed earlier
        for eid, ev in items.items():
            with atomic_path(path / eid, is_dir=True) as tmp:
                _write_group(_prepare(ev, eid), tmp, encoding)
        return path
    import zarr

    with atomic_path(path, is_dir=True) as tmp:
        zarr.open_group(tmp, mode="w", zarr_format=3, attributes=_ROOT_ATTRS)
        for eid, ev in items.items():
            _write_group(_prepare(ev, eid), tmp / eid, encoding)
    return path


def save_event(
    event: xr.Dataset, path: str | Path, *, encoding: Mapping[str, Mapping[str, Any]] | None = None
) -> Path:
    """Save one FireEvent as a single-event zarr store (the event is the root group), atomically."""
    from ..validate import validate

    validate(event)
    eid = str(event.attrs.get("event_id", Path(path).stem))
    path = Path(path)
    with atomic_path(path, is_dir=True) as tmp:
        _write_group(_prepare(event, eid), tmp, encoding)
    return path


def list_event_ids(path: str | Path, *, allow_empty: bool = False) -> list[str]:
    """Sorted event ids of a collection store, read from metadata only (no array data).

    A single-event store (the event at the root) lists its one ``event_id``; an empty collection
    made by ``save_events([], path)`` lists none. ``allow_empty`` is accepted for compatibility
    (empty collections are always allowed; plain zarr stores never are).

    Raises
    ------
    ReaderError
        ``path`` is not a zarr v3 store, or holds no event group.
    """
    p = Path(path)
    root = read_json(p / "zarr.json") if p.is_dir() else None
    if root is None or root.get("node_type") != "group":
        raise ReaderError(
            f"{str(p)!r} is not a zarr (v3) store: no group zarr.json there. "
            "Fix: pass the path of a store written by emberxr.save_events."
        )
    if _is_event_group(p):
        return [str(root.get("attributes", {}).get("event_id", p.stem))]
    ids = sorted(c.name for c in p.iterdir() if not c.name.startswith(".") and _is_event_group(c))
    lost = [
        c.name
        for c in sorted(p.iterdir())
        if not c.name.startswith(".")
        and c.name not in ids
        and _node_type(c) == "group"
        and CHUNKS_ATTR in (read_json(c / "zarr.json") or {}).get("attributes", {})
    ]
    if lost:  # groups emberxr wrote as events whose fire array is gone
        raise CorruptStoreError(
            [
                Problem(
                    f"event {eid!r}: variable 'fire' is missing ({p / eid / FIRE})",
                    "the store is damaged; restore it from a backup or write the event again "
                    "with emberxr.save_events(..., mode='a')",
                )
                for eid in lost
            ],
            str(p),
        )
    if not ids and COLLECTION_ATTR not in root.get("attributes", {}):
        children = sorted(c.name for c in p.iterdir() if c.is_dir() and not c.name.startswith("."))
        raise ReaderError(
            f"{str(p)!r} is a zarr store but not an event collection: none of its groups "
            f"({', '.join(children) or 'none'}) holds a FireEvent ('fire' array). "
            "Fix: write collections with emberxr.save_events, or open plain zarr with xarray."
        )
    return ids


def _finish(ds: xr.Dataset, extra: dict[str, tuple[tuple[str, ...], np.ndarray]]) -> xr.Dataset:
    """Restore exact in-memory types: fixed-width string band coords."""
    coords = dict(extra)
    for c in _STRING_COORDS:
        if c in ds.coords:
            vals = np.asarray(ds[c].values)
            coords[c] = (ds[c].dims, np.array([str(v) for v in vals.tolist()], dtype=str))
    return ds.assign_coords(coords) if coords else ds


def _read_string_coords(path: Path, group: str | None) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Non-index string coordinates, read with zarr directly (Dask cannot auto-chunk strings)."""
    import zarr

    out = {}
    node = path / group if group else path
    for c in _STRING_COORDS:
        if c in (BAND, DBAND) or _node_type(node / c) != "array":
            continue
        arr = zarr.open_array(node / c, mode="r")
        dims = tuple(arr.metadata.dimension_names or ((DBAND,) if c == DBAND_KIND else (BAND,)))
        out[c] = (dims, np.array([str(v) for v in np.asarray(arr[...]).tolist()], dtype=str))
    return out


def check_store(path: str | Path) -> tuple[list[Problem], list[str]]:
    """Check every event of a store against its write-time chunk record (file names only).

    Returns
    -------
    problems : list of Problem
        Unreadable metadata and lost chunks, each naming the event and the variable.
    unverified : list of str
        Ids of events written without a chunk record (older stores): not checkable.

    Raises
    ------
    ReaderError
        ``path`` is not an event store (see :func:`list_event_ids`).
    """
    p = Path(path)
    ids = list_event_ids(p)
    single = _is_event_group(p)
    problems: list[Problem] = []
    unverified: list[str] = []
    for eid in ids:
        res = check_group(p if single else p / eid, f"event {eid!r}")
        problems += res.problems
        if not res.verified and not res.problems:
            unverified.append(eid)
    return problems, unverified


def open_event_store(
    path: str | Path,
    *,
    group: str | None = None,
    chunks: str | dict[str, int] | None = STORED,
    verify: bool = True,
) -> xr.Dataset:
    """Open one event (the root of a single-event store, or the group ``group``) lazily.

    Parameters
    ----------
    path, group
        The store and, for a collection, the event id.
    chunks
        Dask chunks (see :func:`open_events`).
    verify
        Compare the chunk files present with the record written by :func:`save_events`
        (file names only; see :mod:`emberxr.io.integrity`).

    Raises
    ------
    CorruptStoreError
        Metadata that is not JSON, or chunks that were written and are gone (naming the event and
        the variable).
    ReaderError
        xarray/zarr cannot open the group.
    """
    node = Path(path) / group if group else Path(path)
    if verify:
        label = f"event {group!r}" if group else f"event store {str(path)!r}"
        problems = check_group(node, label).problems
        if problems:
            raise CorruptStoreError(problems, str(path))
    try:
        extra = _read_string_coords(Path(path), group)
        ds = xr.open_dataset(
            path,
            engine="zarr",
            group=group,
            chunks={} if chunks == STORED else chunks,
            consolidated=False,
            decode_coords="all",
            zarr_format=3,
            drop_variables=list(extra),
        )
    except (CorruptStoreError, ReaderError):
        raise
    except Exception as exc:  # zarr/xarray errors on a damaged or foreign store
        raise ReaderError(
            f"{node} could not be opened as an event group ({type(exc).__name__}: {exc}). "
            "Fix: check that it was written by emberxr.save_events; restore or rewrite it if it is damaged."
        ) from exc
    ds.attrs.pop(CHUNKS_ATTR, None)
    return _finish(ds, extra)


def open_events(path: str | Path, *, chunks: str | dict[str, int] | None = STORED) -> xr.DataTree:
    """Open an event collection lazily as a DataTree (one child per event, sorted by id).

    Parameters
    ----------
    path
        Store written by :func:`save_events` (a single-event store gives a one-event tree).
    chunks
        Dask chunking: :data:`STORED` by default (one Dask chunk per zarr chunk, so a window
        read decodes only the chunks it touches; xarray's ``"auto"`` merges them into chunks of
        ~128 MiB, and reading windows of those was measured 5× slower on a 4096² event), a dict,
        ``"auto"``, or ``None`` for lazily indexed numpy arrays without Dask.

    Returns
    -------
    xarray.DataTree
        ``tree[event_id]`` holds each event; ``.to_dataset().rio.crs`` works on every one.

    Raises
    ------
    CorruptStoreError
        Events whose chunks were lost since writing (all of them listed).
    ReaderError
        ``path`` is not an event collection.
    """
    p = Path(path)
    problems, _ = check_store(p)  # every damaged event at once, before opening any
    if problems:
        raise CorruptStoreError(problems, str(p))
    ids = list_event_ids(p)
    if _is_event_group(p):
        return xr.DataTree.from_dict({ids[0]: open_event_store(p, chunks=chunks, verify=False)})
    return xr.DataTree.from_dict(
        {eid: open_event_store(p, group=eid, chunks=chunks, verify=False) for eid in ids}
    )


def iter_events(tree: xr.DataTree | Mapping[str, xr.Dataset] | Iterable[xr.Dataset]) -> Iterator[xr.Dataset]:
    """Yield each event of a collection as a Dataset (lazy if the tree is lazy).

    Accepts a DataTree (children in order; a tree whose root is itself an event yields it), a
    mapping id -> Dataset, or any iterable of Datasets.
    """
    if isinstance(tree, xr.Dataset):
        yield tree
    elif isinstance(tree, xr.DataTree):
        if FIRE in tree.ds.variables:
            yield tree.to_dataset()
        for node in tree.children.values():
            ds = node.to_dataset()
            if FIRE in ds.variables:
                yield ds
            else:
                yield from iter_events(node)
    elif isinstance(tree, Mapping):
        yield from tree.values()
    else:
        yield from tree
