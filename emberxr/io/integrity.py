"""Integrity of zarr event groups: which chunks were written, recorded at write time.

Zarr reads a missing chunk as the array's fill value, so a chunk file lost after writing (a
deleted file, an incomplete copy) would read as "not burned" (fire) or NaN (static) with no
error. :func:`save_events` therefore records, in each event group's attributes
(``emberxr_chunks``), the chunks it wrote for every array: their count and, when not all chunks
of the grid exist (zarr skips chunks that hold only the fill value), a compressed bitmap of which.
:func:`group_problems` compares the files present with that record (listing file names only; no
chunk is read) and also names any ``zarr.json`` that is not valid JSON.

Stores written before the record existed have none: their metadata is still checked, their
chunks cannot be (:func:`group_problems` reports them as unverified, not as damaged).
"""

from __future__ import annotations

import base64
import json
import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptStoreError, Problem

__all__ = ["CHUNKS_ATTR", "GroupCheck", "check_group", "read_json", "record_chunks", "write_chunk_record"]

#: group attribute holding the write-time chunk record
CHUNKS_ATTR = "emberxr_chunks"
_FIX = (
    "the store is damaged (a file was deleted, truncated or not copied); restore it from a backup "
    "or write it again from its source with emberxr.save_events"
)


def read_json(path: Path) -> dict[str, Any] | None:
    """Parse a zarr metadata file; None when it does not exist.

    Raises
    ------
    CorruptStoreError
        The file exists but is not a JSON object (e.g. truncated); the message names the file.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptStoreError([Problem(f"{path} cannot be read ({exc})", "check its permissions")]) from exc
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise CorruptStoreError(
            [Problem(f"{path} is not valid JSON ({exc}; {len(text)} bytes, truncated?)", _FIX)]
        ) from exc
    if not isinstance(meta, dict):
        raise CorruptStoreError(
            [Problem(f"{path} holds a {type(meta).__name__}, not a zarr metadata object", _FIX)]
        )
    return meta


def _arrays(group: Path) -> dict[str, dict[str, Any]]:
    """Metadata of the arrays directly in ``group`` (raises on unreadable metadata)."""
    out = {}
    for child in sorted(group.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        meta = read_json(child / "zarr.json")
        if meta is not None and meta.get("node_type") == "array":
            out[child.name] = meta
    return out


def _grid(meta: dict[str, Any]) -> tuple[list[int], list[int]]:
    shape = [int(n) for n in meta.get("shape", [])]
    conf = meta.get("chunk_grid", {}).get("configuration", {})
    chunk = [int(n) for n in conf.get("chunk_shape", shape)]
    return [math.ceil(n / c) if c else 0 for n, c in zip(shape, chunk)], chunk


def _present(array_dir: Path, meta: dict[str, Any]) -> np.ndarray:
    """Boolean map over the chunk grid: which chunk files exist (names only, nothing read)."""
    grid, _ = _grid(meta)
    present = np.zeros(grid, dtype=bool)
    enc = meta.get("chunk_key_encoding", {})
    default = enc.get("name", "default") == "default"
    sep = enc.get("configuration", {}).get("separator", "/" if default else ".")
    for root, _dirs, files in os.walk(array_dir):
        rel_root = Path(root).relative_to(array_dir).as_posix()
        for f in files:
            key = f if rel_root == "." else f"{rel_root}/{f}"
            if key == "zarr.json":
                continue
            parts = key.split(sep)
            if default:
                if parts[0] != "c":
                    continue
                parts = parts[1:]
            elif not grid and parts == ["0"]:
                parts = []
            if len(parts) != len(grid) or not all(p.isdigit() for p in parts):
                continue
            idx = tuple(int(p) for p in parts)
            if all(i < n for i, n in zip(idx, grid)):
                present[idx] = True
    return present


def _pack(present: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.packbits(present.ravel()).tobytes(), 9)).decode("ascii")


def _unpack(text: str, grid: list[int]) -> np.ndarray:
    bits = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8)
    n = int(np.prod(grid)) if grid else 1
    return np.unpackbits(bits)[:n].astype(bool).reshape(grid)


def record_chunks(group: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The chunk record of a just-written group: per array, grid, count and (if partial) bitmap."""
    group = Path(group)
    out: dict[str, dict[str, Any]] = {}
    for name, meta in _arrays(group).items():
        present = _present(group / name, meta)
        grid, _ = _grid(meta)
        rec: dict[str, Any] = {"grid": grid, "written": int(present.sum())}
        if rec["written"] != present.size:
            rec["map"] = _pack(present)
        out[name] = rec
    return out


def write_chunk_record(group: str | os.PathLike) -> None:
    """Store :func:`record_chunks` in the group's attributes (call once the group is complete)."""
    import zarr

    record = record_chunks(group)
    zarr.open_group(Path(group), mode="r+", zarr_format=3).update_attributes({CHUNKS_ATTR: record})


@dataclass
class GroupCheck:
    """Result of :func:`check_group`: problems found, and whether chunks could be verified."""

    problems: list[Problem] = field(default_factory=list)
    verified: bool = False


def _describe_chunk(idx: tuple[int, ...], meta: dict[str, Any]) -> str:
    _, chunk = _grid(meta)
    shape = meta.get("shape", [])
    dims = meta.get("dimension_names") or [f"dim{i}" for i in range(len(idx))]
    parts = [f"{d} {i * c}-{min((i + 1) * c, n) - 1}" for d, i, c, n in zip(dims, idx, chunk, shape)]
    return f"chunk {'/'.join(str(i) for i in idx) or '(scalar)'} ({', '.join(parts) or 'the value'})"


def check_group(group: str | os.PathLike, label: str) -> GroupCheck:
    """Check one event group against its write-time chunk record (file names only).

    Parameters
    ----------
    group
        The group directory (a single-event store's root, or ``<collection>/<event_id>``).
    label
        How messages name the event (e.g. ``"event 'fire-0003'"``).

    Returns
    -------
    GroupCheck
        ``problems``: unreadable metadata, arrays that vanished, chunks that were written and are
        gone (each naming the event, the variable and the first missing chunk's extent).
        ``verified``: the group had a chunk record to compare with.
    """
    group = Path(group)
    out = GroupCheck()
    try:
        meta = read_json(group / "zarr.json")
        arrays = _arrays(group)
    except CorruptStoreError as exc:
        out.problems += [Problem(f"{label}: {p.what}", p.fix) for p in exc.problems]
        return out
    if meta is None:
        out.problems.append(Problem(f"{label}: {group / 'zarr.json'} is missing", _FIX))
        return out
    record = meta.get("attributes", {}).get(CHUNKS_ATTR)
    if not isinstance(record, dict):
        return out
    out.verified = True
    for name, rec in sorted(record.items()):
        if name not in arrays:
            out.problems.append(Problem(f"{label}: variable {name!r} is missing ({group / name})", _FIX))
            continue
        grid, _ = _grid(arrays[name])
        if list(rec.get("grid", [])) != grid:
            out.problems.append(
                Problem(
                    f"{label}: variable {name!r} has a chunk grid {grid}, but {rec.get('grid')} was written",
                    _FIX,
                )
            )
            continue
        written = _unpack(rec["map"], grid) if "map" in rec else np.ones(grid, dtype=bool)
        lost = written & ~_present(group / name, arrays[name])
        if lost.any():
            first = tuple(int(i) for i in np.argwhere(lost)[0]) if lost.ndim else ()
            out.problems.append(
                Problem(
                    f"{label}: variable {name!r} lost {int(lost.sum())} of {int(rec['written'])} written "
                    f"chunk(s), e.g. {_describe_chunk(first, arrays[name])}; zarr would read them as "
                    "fill values (empty fire, NaN layers) without an error",
                    _FIX,
                )
            )
    return out
