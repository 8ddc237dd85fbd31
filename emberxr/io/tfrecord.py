"""TFRecord files and ``tf.train.Example`` records without TensorFlow.

A TFRecord file is a sequence of records, each framed as::

    uint64  length                         little-endian
    uint32  masked_crc32c(length bytes)
    bytes   data[length]
    uint32  masked_crc32c(data)

with ``masked_crc32c(b) = ((c >> 15 | c << 17) + 0xA282EAD8) mod 2**32`` of the CRC-32C
(Castagnoli) ``c`` of ``b``. Both checksums are verified on every read: a flipped byte, a record
cut short or trailing garbage raise :class:`~emberxr.errors.CorruptRecordError` naming the file,
the record and the byte offset. CRC-32C comes from ``google-crc32c``.

The records of the public fire data sets are ``tf.train.Example`` messages (a map of feature
name -> ``BytesList | FloatList | Int64List``). They are decoded with the ``protobuf`` package
and a descriptor written here (the same wire format as TensorFlow's ``example.proto`` /
``feature.proto``, in a private package name so it never clashes with TensorFlow's own).

Only uncompressed files are read; GZIP-compressed ones (``.gz``) are refused with the command that
decompresses them.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptRecordError, ReaderError

__all__ = [
    "iter_records",
    "masked_crc32c",
    "parse_example",
    "read_record",
    "record_index",
    "serialize_example",
    "write_records",
]

_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C TFRecord stores for ``data``."""
    import google_crc32c

    crc = int(google_crc32c.value(bytes(data)))
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _check_plain(path: Path) -> None:
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        raise ReaderError(
            f"{str(path)!r} is GZIP-compressed; emberxr reads uncompressed TFRecord files. Fix: "
            f"decompress it first (gunzip -k {path.name})."
        )


def record_index(path: str | os.PathLike) -> list[tuple[int, int]]:
    """``(offset of the data, length)`` of every record, reading the file once.

    Both checksums of every record are verified (the data's too, so a damaged record is found
    when the file is indexed, not in the middle of training).

    Raises
    ------
    CorruptRecordError
        A checksum does not match, or the file ends inside a record.
    ReaderError
        The file cannot be read, or it is GZIP-compressed.
    """
    p = Path(path)
    _check_plain(p)
    out: list[tuple[int, int]] = []
    with open(p, "rb") as f:
        while True:
            start = f.tell()
            head = f.read(_HEADER.size)
            if not head:
                return out
            length, data = _read_one(f, p, len(out), start, head)
            out.append((start + _HEADER.size, length))
            del data


def _read_one(f: Any, p: Path, i: int, start: int, head: bytes) -> tuple[int, bytes]:
    """Read and verify record ``i`` whose 12-byte header ``head`` starts at ``start``."""
    if len(head) < _HEADER.size:
        raise CorruptRecordError(
            f"{str(p)!r}: record {i} at byte {start} is cut short ({len(head)} of 12 header bytes). "
            "Fix: download the file again."
        )
    length, length_crc = _HEADER.unpack(head)
    if masked_crc32c(head[:8]) != length_crc:
        raise CorruptRecordError(
            f"{str(p)!r}: the length checksum of record {i} at byte {start} does not match (the file is "
            "damaged or not a TFRecord file). Fix: download the file again."
        )
    data = f.read(length)
    foot = f.read(_FOOTER.size)
    if len(data) < length or len(foot) < _FOOTER.size:
        raise CorruptRecordError(
            f"{str(p)!r}: record {i} at byte {start} is cut short (the file ends inside it). Fix: "
            "download the file again."
        )
    if masked_crc32c(data) != _FOOTER.unpack(foot)[0]:
        raise CorruptRecordError(
            f"{str(p)!r}: the data checksum of record {i} at byte {start} does not match (the record "
            "is damaged). Fix: download the file again."
        )
    return length, data


def read_record(path: str | os.PathLike, offset: int, length: int, index: int = 0) -> bytes:
    """The data of the record at ``offset`` (from :func:`record_index`), checksums verified."""
    p = Path(path)
    start = int(offset) - _HEADER.size
    with open(p, "rb") as f:
        f.seek(start)
        got, data = _read_one(f, p, index, start, f.read(_HEADER.size))
    if got != length:
        raise CorruptRecordError(
            f"{str(p)!r}: record {index} at byte {start} has length {got}, the index says {length} (the "
            "file changed since it was indexed). Fix: open it again."
        )
    return data


def iter_records(path: str | os.PathLike) -> Iterator[bytes]:
    """The data of every record in order, checksums verified."""
    p = Path(path)
    _check_plain(p)
    with open(p, "rb") as f:
        i = 0
        while True:
            start = f.tell()
            head = f.read(_HEADER.size)
            if not head:
                return
            yield _read_one(f, p, i, start, head)[1]
            i += 1


def write_records(path: str | os.PathLike, records: Iterable[bytes]) -> Path:
    """Write ``records`` as a TFRecord file (atomically), each framed with its masked CRC-32C."""
    from ..atomic import atomic_path

    p = Path(path)
    with atomic_path(p) as tmp, open(tmp, "wb") as f:
        for data in records:
            data = bytes(data)
            head = struct.pack("<Q", len(data))
            f.write(head + struct.pack("<I", masked_crc32c(head)))
            f.write(data + struct.pack("<I", masked_crc32c(data)))
    return p


# -- tf.train.Example -----------------------------------------------------------------------------
_PKG = "emberxr.tfexample"


@cache
def _example_class() -> Any:
    """The ``Example`` message class, built once from a descriptor written here."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="emberxr_tfexample.proto", package=_PKG, syntax="proto3")

    def message(name: str, fields: list[tuple[str, int, int, int, str]]) -> Any:
        m = fdp.message_type.add(name=name)
        for fname, number, label, ftype, tname in fields:
            f = m.field.add(name=fname, number=number, label=label, type=ftype)
            if tname:
                f.type_name = tname
        return m

    rep, opt = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    message("BytesList", [("value", 1, rep, F.TYPE_BYTES, "")])
    message("FloatList", [("value", 1, rep, F.TYPE_FLOAT, "")])
    message("Int64List", [("value", 1, rep, F.TYPE_INT64, "")])
    feature = message(
        "Feature",
        [
            ("bytes_list", 1, opt, F.TYPE_MESSAGE, f".{_PKG}.BytesList"),
            ("float_list", 2, opt, F.TYPE_MESSAGE, f".{_PKG}.FloatList"),
            ("int64_list", 3, opt, F.TYPE_MESSAGE, f".{_PKG}.Int64List"),
        ],
    )
    feature.oneof_decl.add(name="kind")
    for f in feature.field:
        f.oneof_index = 0
    features = message("Features", [("feature", 1, rep, F.TYPE_MESSAGE, f".{_PKG}.Features.FeatureEntry")])
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=opt, type=F.TYPE_STRING)
    entry.field.add(name="value", number=2, label=opt, type=F.TYPE_MESSAGE, type_name=f".{_PKG}.Feature")
    message("Example", [("features", 1, opt, F.TYPE_MESSAGE, f".{_PKG}.Features")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PKG}.Example"))


def parse_example(data: bytes, where: str = "record") -> dict[str, Any]:
    """Decode a serialised ``tf.train.Example``.

    Returns
    -------
    dict
        Feature name -> float32 array (``float_list``), int64 array (``int64_list``) or list of
        bytes (``bytes_list``).

    Raises
    ------
    CorruptRecordError
        ``data`` is not an Example message.
    """
    from google.protobuf.message import DecodeError

    msg = _example_class()()
    try:
        msg.ParseFromString(bytes(data))
    except DecodeError as exc:
        raise CorruptRecordError(f"{where} is not a tf.train.Example message ({exc}).") from exc
    out: dict[str, Any] = {}
    for name, feat in msg.features.feature.items():
        kind = feat.WhichOneof("kind")
        if kind == "float_list":
            out[name] = np.array(feat.float_list.value, dtype=np.float32)
        elif kind == "int64_list":
            out[name] = np.array(feat.int64_list.value, dtype=np.int64)
        elif kind == "bytes_list":
            out[name] = list(feat.bytes_list.value)
        else:
            out[name] = np.zeros(0, np.float32)
    return out


def serialize_example(features: Mapping[str, Any]) -> bytes:
    """Encode ``features`` as a ``tf.train.Example``: float arrays as ``float_list``, integer
    arrays as ``int64_list``, ``bytes``/``str`` (or lists of them) as ``bytes_list``."""
    msg = _example_class()()
    for name, value in features.items():
        feat = msg.features.feature[str(name)]
        if isinstance(value, (bytes, str)) or (
            isinstance(value, (list, tuple)) and value and isinstance(value[0], (bytes, str))
        ):
            items = [value] if isinstance(value, (bytes, str)) else list(value)
            feat.bytes_list.value.extend(v.encode() if isinstance(v, str) else v for v in items)
            continue
        a = np.asarray(value).ravel()
        if a.dtype.kind in "iub":
            feat.int64_list.value.extend(a.astype(np.int64).tolist())
        else:
            feat.float_list.value.extend(a.astype(np.float32).tolist())
    return msg.SerializeToString()
