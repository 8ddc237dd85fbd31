"""Streamed window reads of lazy FireEvents: zarr chunks read directly, cached per process.

A training sample needs a small window of one event: a few fire frames, the static bands and
the validity mask under a crop. Going through the Dask graph for each such read costs far more
than the read itself (measured 150–220× a numpy slice for tiny reads), so when a lazy variable
is an unmodified zarr array — what :func:`emberxr.open_events`, catalogs and
:func:`emberxr.open_event` on a store give — :func:`array_source` reads it with zarr directly:

* only a tiny reference is kept per event (:class:`ZarrRef`: the store, shared by every event of
  a collection, and the array's path); the ``zarr.Array`` handles are opened on first use, in
  each process (DataLoader workers reopen them, :func:`reset_process_state`), and kept in a small
  LRU;
* a window is cut from whole decoded chunks kept in a per-process LRU bounded in bytes
  (:class:`ByteLRU`, keys ``((store, path), chunk coords)``), so samples drawn from the same
  event reuse what was decoded; missing chunks are read with one zarr call over their bounding
  box.

Any other lazy array (a Dask graph that transforms what it reads, an array from a reader plugin)
is read through Dask, one synchronous compute per window, exactly as before; numpy arrays are
sliced. Nothing here is kept per event beyond the reference, so memory does not grow with the
number of events.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np

__all__ = [
    "ArraySource",
    "ByteLRU",
    "ZarrRef",
    "array_source",
    "lazy_nbytes",
    "reset_process_state",
]

#: share of the cache budget above which one chunk is not cached (its window is read directly)
_MAX_CHUNK_SHARE = 8
#: zarr.Array handles kept open per process (a few kB of metadata each; a handle is needed only
#: when a chunk is not in the cache)
_MAX_OPEN_ARRAYS = 1024
#: xarray's lazy-indexing adapters that pass values through unchanged
_PASS_THROUGH = {"ImplicitToExplicitIndexingAdapter", "CopyOnWriteArray", "MemoryCachedArray"}


class ByteLRU:
    """A least-recently-used mapping bounded by the total bytes of its values.

    Parameters
    ----------
    max_bytes
        Upper bound of the summed ``nbytes`` of the values; 0 keeps nothing.
    max_items
        Optional bound on the number of entries.
    """

    def __init__(self, max_bytes: int, max_items: int | None = None) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self.max_items = max_items
        self.nbytes = 0
        self._d: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._d

    def get(self, key: Hashable) -> Any:
        """The value of ``key`` (marked as recently used), or None."""
        hit = self._d.get(key)
        if hit is None:
            return None
        self._d.move_to_end(key)
        return hit[0]

    def put(self, key: Hashable, value: Any, nbytes: int) -> None:
        """Keep ``value`` (of ``nbytes``) unless it alone exceeds the budget; evict the oldest."""
        if nbytes > self.max_bytes:
            return
        old = self._d.pop(key, None)
        if old is not None:
            self.nbytes -= old[1]
        self._d[key] = (value, int(nbytes))
        self.nbytes += int(nbytes)
        while self._d and (
            self.nbytes > self.max_bytes or (self.max_items is not None and len(self._d) > self.max_items)
        ):
            _, (_, n) = self._d.popitem(last=False)
            self.nbytes -= n

    def clear(self) -> None:
        """Drop every entry."""
        self._d.clear()
        self.nbytes = 0


# -- zarr references ----------------------------------------------------------------------------
_STORES: dict[Hashable, Any] = {}  # one store object per store (events of a collection share it)


def _intern_store(store: Any) -> Hashable:
    root = getattr(store, "root", None)
    key: Hashable = (type(store).__name__, str(root)) if root is not None else ("id", id(store))
    _STORES.setdefault(key, store)
    return key


@dataclass(frozen=True, eq=False)
class ZarrRef:
    """Where one zarr array lives: a store key (see :data:`_STORES`) and the array's path.

    Pickles small (the store object, not the array, travels to spawned workers).
    """

    store_key: Hashable
    store: Any
    path: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_rebuild_ref, (self.store_key, self.store, self.path, self.shape, self.chunks, self.dtype))


def _rebuild_ref(key: Hashable, store: Any, path: str, shape: Any, chunks: Any, dtype: Any) -> ZarrRef:
    store = _STORES.setdefault(key, store)
    return ZarrRef(key, store, path, tuple(shape), tuple(chunks), np.dtype(dtype))


def zarr_ref(array: Any) -> ZarrRef | None:
    """The zarr array a Dask array reads unchanged, or None.

    True only for the graph xarray builds when it opens a zarr variable without decoding (a
    ``from_array`` of its lazy-indexing adapters over the full array, nothing applied after): the
    values read from the zarr array are then exactly the Dask array's. Anything else (a slice,
    arithmetic, CF decoding, another backend) gives None and is read through Dask.
    """
    try:
        import zarr
    except ImportError:  # pragma: no cover - zarr is a dependency
        return None
    graph = getattr(array, "dask", None)
    if graph is None or not hasattr(graph, "layers") or len(graph.layers) != 2:
        return None
    originals = [k for k in graph.layers if str(k).startswith("original-")]
    if len(originals) != 1:
        return None
    values = list(graph.layers[originals[0]].values())
    if len(values) != 1:
        return None
    obj = values[0]
    for _ in range(8):
        name = type(obj).__name__
        if isinstance(obj, zarr.Array):
            break
        if name == "LazilyIndexedArray":
            key = getattr(getattr(obj, "key", None), "tuple", None)
            if key is None or any(k != slice(None) for k in key):
                return None
        elif name not in _PASS_THROUGH and name != "ZarrArrayWrapper":
            return None
        obj = getattr(obj, "array", None) if name != "ZarrArrayWrapper" else getattr(obj, "_array", None)
    else:
        return None
    if not isinstance(obj, zarr.Array) or not hasattr(obj, "store_path"):
        return None
    if tuple(obj.shape) != tuple(array.shape) or np.dtype(obj.dtype) != np.dtype(array.dtype):
        return None
    if getattr(obj, "shards", None) is not None:
        return None
    sp = obj.store_path
    key = _intern_store(sp.store)
    return ZarrRef(key, _STORES[key], str(sp.path), tuple(obj.shape), tuple(obj.chunks), np.dtype(obj.dtype))


# -- per-process state -------------------------------------------------------------------------------
class _ProcessState:
    """Open zarr handles of this process (reopened after a fork: handles never cross processes)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.arrays: OrderedDict[tuple[Hashable, str], Any] = OrderedDict()

    def array(self, ref: ZarrRef) -> Any:
        if self.pid != os.getpid():
            self.__init__()
        key = (ref.store_key, ref.path)
        arr = self.arrays.get(key)
        if arr is not None:
            self.arrays.move_to_end(key)
            return arr
        import zarr

        arr = zarr.open_array(store=ref.store, path=ref.path, mode="r")
        self.arrays[key] = arr
        while len(self.arrays) > _MAX_OPEN_ARRAYS:
            self.arrays.popitem(last=False)
        return arr


_STATE = _ProcessState()


def reset_process_state() -> None:
    """Forget the zarr handles of this process (a DataLoader worker calls it on start, see
    :func:`emberxr.data.loaders.worker_init`); they are reopened on the next read."""
    global _STATE
    _STATE = _ProcessState()


# -- sources ---------------------------------------------------------------------------------------
def _bounds(sel: tuple[slice, ...], shape: tuple[int, ...]) -> list[tuple[int, int]]:
    out = []
    for s, n in zip(sel, shape):
        start, stop, step = s.indices(n)
        if step != 1:
            raise ValueError("window reads take unit-step slices")
        out.append((start, max(start, stop)))
    out += [(0, n) for n in shape[len(sel) :]]
    return out


class ArraySource:
    """One variable of one event, read by windows: numpy, zarr (direct, cached) or Dask.

    Parameters
    ----------
    data
        The variable's array (numpy, Dask, or anything sliceable).
    ref
        Its :class:`ZarrRef` when it is read with zarr directly (then ``data`` is not kept).
    """

    __slots__ = ("data", "dtype", "kind", "ref", "shape")

    def __init__(self, data: Any, ref: ZarrRef | None = None) -> None:
        self.shape = tuple(int(n) for n in data.shape)
        self.dtype = np.dtype(data.dtype)
        self.ref = ref
        if ref is not None:
            self.kind, self.data = "zarr", None
        elif type(data).__module__.startswith("dask"):
            self.kind, self.data = "dask", data
        else:
            self.kind, self.data = "array", data

    @property
    def lazy(self) -> bool:
        """True when reads go to storage (zarr or Dask), False for an array in memory."""
        return self.kind != "array" or not isinstance(self.data, np.ndarray)

    def read(self, sel: tuple[slice, ...], cache: ByteLRU | None = None) -> np.ndarray:
        """The window ``sel`` (unit-step slices, leading axes) as a numpy array."""
        if self.kind == "zarr":
            return _read_zarr(self.ref, sel, cache)
        part = self.data[sel]
        if self.kind == "dask":
            part = part.compute(scheduler="synchronous")
        return np.asarray(part)

    @property
    def nbytes(self) -> int:
        """Bytes of the whole array decoded."""
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def as_dask(self) -> Any:
        """The whole array as a Dask array (for reductions that stream chunk by chunk)."""
        if self.kind != "zarr":
            import dask.array as da

            return self.data if self.kind == "dask" else da.from_array(self.data)
        import dask.array as da

        return da.from_array(_STATE.array(self.ref), chunks=self.ref.chunks)

    def dask_part(self, sel: tuple[slice, ...]) -> Any:
        """The lazy Dask window (only for ``kind == "dask"``), to compute several at once."""
        return self.data[sel]


def array_source(data: Any, direct: bool = True) -> ArraySource:
    """An :class:`ArraySource` for ``data``; ``direct`` reads unmodified zarr arrays with zarr."""
    ref = zarr_ref(data) if direct and type(data).__module__.startswith("dask") else None
    return ArraySource(data, ref)


def _read_zarr(ref: ZarrRef, sel: tuple[slice, ...], cache: ByteLRU | None) -> np.ndarray:
    bounds = _bounds(sel, ref.shape)
    out_shape = tuple(b - a for a, b in bounds)
    chunk_bytes = int(np.prod(ref.chunks)) * ref.dtype.itemsize
    if (
        cache is None
        or cache.max_bytes == 0
        or chunk_bytes * _MAX_CHUNK_SHARE > cache.max_bytes
        or 0 in out_shape
    ):
        return np.asarray(_STATE.array(ref)[tuple(slice(a, b) for a, b in bounds)])
    ranges = [range(a // c, (b - 1) // c + 1) for (a, b), c in zip(bounds, ref.chunks)]
    akey = (ref.store_key, ref.path)
    coords = list(product(*ranges))
    found = {c: cache.get((akey, c)) for c in coords}
    missing = [c for c, v in found.items() if v is None]
    if missing:
        lo = [min(c[d] for c in missing) * ref.chunks[d] for d in range(len(ref.shape))]
        hi = [
            min((max(c[d] for c in missing) + 1) * ref.chunks[d], ref.shape[d]) for d in range(len(ref.shape))
        ]
        block = np.asarray(_STATE.array(ref)[tuple(slice(a, b) for a, b in zip(lo, hi))])
        for c in missing:
            local = tuple(
                slice(c[d] * ref.chunks[d] - lo[d], min((c[d] + 1) * ref.chunks[d], ref.shape[d]) - lo[d])
                for d in range(len(ref.shape))
            )
            chunk = np.array(block[local])  # a copy: the block is released
            found[c] = chunk
            cache.put((akey, c), chunk, chunk.nbytes)
    out = np.empty(out_shape, ref.dtype)
    for c, chunk in found.items():
        src, dst = [], []
        for d, ((a, b), cs) in enumerate(zip(bounds, ref.chunks)):
            c0 = c[d] * cs
            s0, s1 = max(a, c0), min(b, c0 + chunk.shape[d])
            src.append(slice(s0 - c0, s1 - c0))
            dst.append(slice(s0 - a, s1 - a))
        out[tuple(dst)] = chunk[tuple(src)]
    return out


def lazy_nbytes(arrays: list[Any]) -> int:
    """Bytes the arrays would take decoded in memory, counting only those not in memory yet
    (Dask or other lazy arrays; numpy arrays count 0). Reads metadata only."""
    total = 0
    for a in arrays:
        if isinstance(a, np.ndarray):
            continue
        total += int(np.prod(a.shape)) * np.dtype(a.dtype).itemsize
    return total
