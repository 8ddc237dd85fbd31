"""The ``ndws`` reader: tiles of Next Day Wildfire Spread (Huot et al., 2022).

The data set is a set of TFRecord files (``next_day_wildfire_spread_{train|eval|test}_NN.tfrecord``)
of ``tf.train.Example`` records, one per 64×64 tile of 1 km cells, with the float features
:data:`INPUTS` (each a flat list of 64·64 values, row-major) and the target ``FireMask``. Fire
masks hold 1 (fire), 0 (no fire) and -1 (unknown: clouds, no data). Files are read without
TensorFlow (:mod:`emberxr.io.tfrecord`, both record checksums verified).

Each tile becomes one FireEvent with two daily steps:

- ``fire``: ``PrevFireMask > 0`` at step 0, ``FireMask > 0`` at step 1 (active kind: MODIS fire
  detected that day; attribute ``fire_kind: active``); -1 reads as 0;
- ``valid``: False where ``FireMask`` is -1, so unknown labels are left out of the loss and of
  every metric;
- ``static``: elevation and population;
- ``dynamic (time, dband, y, x)``: pdsi, NDVI, pr, sph, th (wind direction) as ``th_sin``/``th_cos``,
  tmmn, tmmx, vs, erc and ``prev_fire_unknown`` (1 where ``PrevFireMask`` is -1) at step 0, NaN
  at step 1 (the data set gives the drivers of day t only);
- ``wind_u``/``wind_v (time, y, x)``: from ``vs`` and ``th`` (the direction the wind blows from);
  step 1 repeats step 0.

The tiles are **not georeferenced** and carry no dates: events have no CRS (attribute
``crs_status``), a local 1 km grid, and nominal times (attribute ``time_status``); every
georeferenced output refuses them (:func:`emberxr.schema.require_crs`).

Opening a tile reads its record (both checksums verified) and keeps the small parts in memory
(fire, static, valid, wind: ~110 kB); ``dynamic`` stays lazy (Dask) and reads the record again
when needed, so the ~18,500 tiles of the data set fit in about 2 GB.

Event ids are ``<split>_<NN>-<record>``, e.g. ``train_03-00042`` for the 43rd record of
``next_day_wildfire_spread_train_03.tfrecord``; the catalog hooks
(:meth:`NDWSReader.list_events`, :meth:`~NDWSReader.event_groups` by file split,
:meth:`~NDWSReader.open_catalog_event`) index each file once per process.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ReaderError
from ..schema import CRS_STATUS, make_event
from .assemble import attach_dynamic, local_grid, sin_cos
from .base import FireReader

__all__ = ["INPUTS", "TARGET", "NDWSReader", "index_root", "open_tile"]

#: the 12 input features of a tile, as named in the records
INPUTS = (
    "elevation",
    "th",
    "vs",
    "tmmn",
    "tmmx",
    "sph",
    "pr",
    "pdsi",
    "NDVI",
    "population",
    "erc",
    "PrevFireMask",
)
TARGET = "FireMask"
STATIC_FEATURES = ("elevation", "population")
DYNAMIC_FEATURES = ("pdsi", "NDVI", "pr", "sph", "th", "tmmn", "tmmx", "vs", "erc")
CELL_SIZE_M = 1000.0
_PREFIX = "next_day_wildfire_spread_"
_SPLIT = re.compile(r"(train|eval|test)")
_SUFFIXES = (".tfrecord", ".tfrecords")
UNITS = {
    "pdsi": "index",
    "NDVI": "index x 1e4",
    "pr": "mm",
    "sph": "kg/kg",
    "th_sin": "1",
    "th_cos": "1",
    "tmmn": "K",
    "tmmx": "K",
    "vs": "m/s",
    "erc": "index",
    "prev_fire_unknown": "1 = PrevFireMask unknown (-1)",
}
_T0 = np.datetime64("1970-01-01", "ns")


@dataclass(frozen=True)
class TileEntry:
    """One tile: its id, file, record number, byte offset and length, and file split."""

    event_id: str
    path: Path
    record: int
    offset: int
    length: int
    group: str


def _short(stem: str) -> str:
    return stem[len(_PREFIX) :] if stem.startswith(_PREFIX) else stem


def _group(stem: str) -> str:
    m = _SPLIT.search(_short(stem))
    return m.group(1) if m else "unknown"


@lru_cache(maxsize=256)
def _file_index(path: str, size: int, mtime: float) -> tuple[tuple[int, int], ...]:
    from ..io.tfrecord import record_index

    return tuple(record_index(path))


def tfrecord_files(root: str | os.PathLike) -> list[Path]:
    """The TFRecord files of ``root`` (a file, or a folder searched recursively), sorted."""
    p = Path(root)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise ReaderError(f"{str(p)!r} does not exist. Fix: point at the folder of NDWS .tfrecord files.")
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in _SUFFIXES)
    gz = sorted(f.name for f in p.rglob("*.tfrecord.gz"))
    if not files:
        hint = (
            f" (only GZIP-compressed ones: {', '.join(gz[:3])}; decompress them with gunzip -k)" if gz else ""
        )
        raise ReaderError(
            f"{str(p)!r} holds no .tfrecord file{hint}. Fix: point at the folder of the Next Day Wildfire "
            "Spread files (next_day_wildfire_spread_train_00.tfrecord ...)."
        )
    return files


def index_root(root: str | os.PathLike) -> list[TileEntry]:
    """Every tile under ``root``, by file then record (each file indexed once per process, its
    checksums verified)."""
    out = []
    for f in tfrecord_files(root):
        st = f.stat()
        for i, (off, n) in enumerate(_file_index(str(f), st.st_size, st.st_mtime)):
            out.append(TileEntry(f"{_short(f.stem)}-{i:05d}", f, i, off, n, _group(f.stem)))
    seen: dict[str, TileEntry] = {}
    for e in out:
        if e.event_id in seen:
            raise ReaderError(
                f"two NDWS files give tile id {e.event_id!r}: {seen[e.event_id].path} and {e.path}. Fix: keep "
                "one copy of each file under the root."
            )
        seen[e.event_id] = e
    return out


@lru_cache(maxsize=64)
def _tile(path: str, offset: int, length: int, record: int) -> dict[str, np.ndarray]:
    """The features of one record as square float32 arrays (cached: a lazy event reads its
    record once for all of its variables)."""
    from ..io.tfrecord import parse_example, read_record

    where = f"{path} record {record}"
    ex = parse_example(read_record(path, offset, length, record), where=where)
    missing = [k for k in (*INPUTS, TARGET) if k not in ex]
    if missing:
        raise ReaderError(
            f"{where} lacks the NDWS feature(s) {', '.join(missing)} (it has {', '.join(sorted(ex)) or 'none'}). "
            "Fix: point the reader at the Next Day Wildfire Spread files."
        )
    n = int(ex[TARGET].size)
    side = round(n**0.5)
    bad = [k for k in (*INPUTS, TARGET) if np.asarray(ex[k]).size != n]
    if side * side != n or bad:
        raise ReaderError(
            f"{where}: features are not square tiles of one size ({n} values in {TARGET}"
            + (f"; {', '.join(bad)} differ" if bad else "")
            + "). Fix: point the reader at the Next Day Wildfire Spread files."
        )
    return {k: np.asarray(ex[k], np.float32).reshape(side, side) for k in (*INPUTS, TARGET)}


def _part(path: str, offset: int, length: int, record: int, what: str) -> np.ndarray:
    """One variable of a tile's event, from the cached record."""
    return _derive(_tile(path, offset, length, record), what)


def _derive(t: dict[str, np.ndarray], what: str) -> np.ndarray:
    """One variable of a tile's event from its features."""
    if what == "fire":
        return np.stack([t["PrevFireMask"] > 0, t[TARGET] > 0]).astype(np.uint8)
    if what == "valid":
        return t[TARGET] != -1
    if what == "static":
        return np.stack([t[k] for k in STATIC_FEATURES])
    if what in ("wind_u", "wind_v"):
        from .assemble import wind_components

        u, v, _ = wind_components(t["vs"][None], t["th"][None])
        w = u if what == "wind_u" else v
        return np.concatenate([w, w])
    if what == "dynamic":
        layers: list[tuple[str, np.ndarray]] = []
        for k in DYNAMIC_FEATURES:
            layers += sin_cos(k, t[k]) if k == "th" else [(k, t[k])]
        layers.append(("prev_fire_unknown", (t["PrevFireMask"] == -1).astype(np.float32)))
        day0 = np.stack([a for _, a in layers])
        return np.stack([day0, np.full_like(day0, np.nan)])
    raise ValueError(what)


def dynamic_names() -> list[str]:
    """Names of the dynamic bands of an NDWS event, in order."""
    names: list[str] = []
    for k in DYNAMIC_FEATURES:
        names += [f"{k}_sin", f"{k}_cos"] if k == "th" else [k]
    return [*names, "prev_fire_unknown"]


_ATTRS = {
    CRS_STATUS: "none (NDWS tiles are not georeferenced; x/y are a local 1 km grid)",
    "time_status": "nominal (NDWS tiles carry no dates: step 0 is day t, step 1 day t+1)",
    "time_step_hours": 24.0,
    "fire_kind": "active",
    "fire_definition": "MODIS fire mask of the day > 0; -1 (unknown) is 0 and outside valid",
    "wind_note": "wind at step 1 repeats step 0 (the data set gives day t's weather only)",
}


def _shapes(side: int) -> dict[str, tuple[tuple[int, ...], Any]]:
    return {
        "fire": ((2, side, side), np.uint8),
        "static": ((len(STATIC_FEATURES), side, side), np.float32),
        "wind_u": ((2, side, side), np.float32),
        "wind_v": ((2, side, side), np.float32),
        "valid": ((side, side), bool),
        "dynamic": ((2, len(dynamic_names()), side, side), np.float32),
    }


@lru_cache(maxsize=4)
def _template(side: int) -> xr.Dataset:
    """An event of the right structure for ``side``-cell tiles (data replaced per tile)."""
    sh = _shapes(side)
    zeros = {k: np.zeros(shape, dtype) for k, (shape, dtype) in sh.items()}
    zeros["fire"][:, 0, 0] = 1
    x, y, transform = local_grid(side, side, CELL_SIZE_M)
    event = make_event(
        zeros["fire"],
        zeros["static"],
        zeros["wind_u"],
        zeros["wind_v"],
        times=np.array([_T0, _T0 + np.timedelta64(1, "D")]),
        x=x,
        y=y,
        crs=None,
        transform=transform,
        band_names=list(STATIC_FEATURES),
        valid=zeros["valid"],
        event_id="template",
        source="ndws",
        attrs=_ATTRS,
    )
    return attach_dynamic(event, (dynamic_names(), zeros["dynamic"]), UNITS)


def open_tile(entry: TileEntry) -> xr.Dataset:
    """The FireEvent of one tile: the record is read now for ``fire``, ``static``, ``valid`` and
    the wind (small, in memory); ``dynamic`` stays lazy (Dask) and reads it again when needed."""
    import dask.array as dsa

    key = (str(entry.path), entry.offset, entry.length, entry.record)
    t = _tile(*key)
    side = int(t[TARGET].shape[0])
    ds = _template(side).copy(deep=False)
    from .assemble import wind_components

    u, v, _ = wind_components(t["vs"][None], t["th"][None])
    small = {"wind_u": np.concatenate([u, u]), "wind_v": np.concatenate([v, v])}
    for what, (shape, dtype) in _shapes(side).items():
        if what != "dynamic":
            data = small[what] if what in small else _derive(t, what)
            ds.variables[what].data = data.astype(dtype, copy=False)
            continue
        # one task, named explicitly (no tokenising); the cache of _tile serves repeated reads
        tag = f"{entry.event_id}-{abs(hash((*key, entry.path.stat().st_mtime_ns))):x}"
        name = f"ndws-{what}-{tag}"
        graph = {(name, *(0,) * len(shape)): (_part, *key, what)}
        chunks = tuple((n,) for n in shape)
        ds.variables[what].data = dsa.Array(graph, name, chunks, meta=np.zeros((0,) * len(shape), dtype))
    ds.attrs = {
        "event_id": entry.event_id,
        "source": "ndws",
        **_ATTRS,
        "ndws_file": str(entry.path),
        "ndws_record": int(entry.record),
        "ndws_split": entry.group,
    }
    return ds


class NDWSReader(FireReader):
    """Read Next Day Wildfire Spread tiles from TFRecord files (no TensorFlow needed)."""

    name = "ndws"
    description = "Next Day Wildfire Spread TFRecord file (one event per 64x64 tile; open(path, tile=i))"
    priority = 10

    def guess_can_open(self, path: str | os.PathLike) -> bool:
        """A ``.tfrecord`` file."""
        p = Path(path)
        return p.is_file() and p.suffix.lower() in _SUFFIXES

    def open(self, path: str | os.PathLike, *, tile: int = 0) -> xr.Dataset:
        """Tile number ``tile`` of one TFRecord file (``dynamic`` lazy, see :func:`open_tile`).

        Raises
        ------
        ReaderError
            No such tile, or records that are not NDWS tiles.
        CorruptRecordError
            A record checksum does not match.
        """
        entries = [e for e in index_root(path)]
        if not 0 <= int(tile) < len(entries):
            raise ReaderError(
                f"{str(path)!r} has {len(entries)} tile(s); tile={tile} is out of range. Fix: use 0..{len(entries) - 1}."
            )
        return open_tile(entries[int(tile)])

    # catalog hooks -------------------------------------------------------------------------------
    def list_events(self, root: str | os.PathLike, **_: Any) -> list[str]:
        """Ids of every tile under ``root``."""
        return [e.event_id for e in index_root(root)]

    def event_groups(self, root: str | os.PathLike, **_: Any) -> dict[str, str]:
        """Tile id -> the split its file belongs to (``train``, ``eval``, ``test``)."""
        return {e.event_id: e.group for e in index_root(root)}

    def open_catalog_event(self, root: str | os.PathLike, event_id: str, **_: Any) -> xr.Dataset:
        """Open (and validate) tile ``event_id`` of the files under ``root``."""
        from ..validate import validate

        entries = {e.event_id: e for e in index_root(root)}
        if event_id not in entries:
            import difflib

            close = difflib.get_close_matches(event_id, list(entries), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ReaderError(f"tile {event_id!r} is not under {str(root)!r}.{hint}")
        return validate(open_tile(entries[event_id]))


def read_split(
    root: str | os.PathLike, group: str, validate: bool = True, progress: bool = True
) -> list[xr.Dataset]:
    """The lazy events of every tile whose file belongs to ``group`` (``train``, ``eval``, ``test``).

    ``validate=False`` skips :func:`emberxr.validate` (its rule "at least one burned pixel" would
    refuse tiles without fire, which a benchmark scores too).

    Raises
    ------
    ReaderError
        No file of that split under ``root``.
    """
    from ..progress import progress as bar
    from ..validate import validate as _validate

    entries = [e for e in index_root(root) if e.group == group]
    if not entries:
        raise ReaderError(
            f"no NDWS file of split {group!r} under {str(root)!r} (files are named "
            f"{_PREFIX}{group}_NN.tfrecord). Fix: download the {group} files next to the others."
        )
    out = []
    for e in bar(entries, f"read NDWS {group}", unit="tile", delay=2.0, enabled=progress):
        ev = open_tile(e)
        out.append(_validate(ev) if validate else ev)
    return out
