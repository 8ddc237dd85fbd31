"""Fixtures of the I/O tests."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest


def _tiff_tag(path, tag):
    """Values of a TIFF tag in the first IFD, read from the file's bytes (not through GDAL)."""
    data = Path(path).read_bytes()
    e = "<" if data[:2] == b"II" else ">"
    big = struct.unpack(e + "H", data[2:4])[0] == 43
    sizes = {1: 1, 3: 2, 4: 4, 16: 8}
    codes = {1: "B", 3: "H", 4: "I", 16: "Q"}
    if big:
        off = struct.unpack(e + "Q", data[8:16])[0]
        n, off = struct.unpack(e + "Q", data[off : off + 8])[0], off + 8
        entry, count_fmt, inline = 20, "Q", 8
    else:
        off = struct.unpack(e + "I", data[4:8])[0]
        n, off = struct.unpack(e + "H", data[off : off + 2])[0], off + 2
        entry, count_fmt, inline = 12, "I", 4
    for i in range(n):
        rec = data[off + i * entry : off + (i + 1) * entry]
        t, typ = struct.unpack(e + "HH", rec[:4])
        if t != tag:
            continue
        count = struct.unpack(e + count_fmt, rec[4 : 4 + struct.calcsize(count_fmt)])[0]
        size = sizes[typ] * count
        if size <= inline:
            raw = rec[entry - inline :][:size]
        else:
            ptr = struct.unpack(e + ("Q" if big else "I"), rec[entry - inline :])[0]
            raw = data[ptr : ptr + size]
        return list(struct.unpack(e + codes[typ] * count, raw))
    return None


@pytest.fixture
def tiff_tag():
    """``tiff_tag(path, tag)``: a TIFF tag of the first image read from the bytes, e.g. 262
    (PhotometricInterpretation: 1 = MINISBLACK, 2 = RGB) or 338 (ExtraSamples: 0 = unspecified,
    1/2 = alpha); None when absent."""
    return _tiff_tag
