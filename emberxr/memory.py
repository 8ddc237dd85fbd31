"""Giving freed memory back to the operating system after large streamed reads.

Reading a big lazy event chunk by chunk (validation's pass over an 8192² scene, the strips
of a streamed forecast) allocates and frees many chunk-sized buffers and small objects. glibc's
allocator keeps the freed memory inside the process heap unless it sits at the top of the heap, so
the resident size stays near the peak of the pass: measured on an 8192² zarr event, validation left
the process 470 MB larger than it needed, which a ``malloc_trim(0)`` returned. :func:`release`
calls it where emberxr has just finished such a pass; elsewhere (other C libraries, other systems)
it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

__all__ = ["release"]


@functools.cache
def _trim() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def release() -> bool:
    """Return the process heap's free memory to the operating system (glibc ``malloc_trim``).

    Returns
    -------
    bool
        True when memory was released; False when nothing was or the C library has no
        ``malloc_trim``.
    """
    fn = _trim()
    return bool(fn(0)) if fn is not None else False
