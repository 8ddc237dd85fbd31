"""The process heap: giving freed memory back after large streamed reads, and keeping a model's
working buffers between calls.

Reading a big lazy event chunk by chunk (validation's pass over an 8192² scene, the strips
of a streamed forecast) allocates and frees many chunk-sized buffers and small objects. glibc's
allocator keeps the freed memory inside the process heap unless it sits at the top of the heap, so
the resident size stays near the peak of the pass: measured on an 8192² zarr event, validation left
the process 470 MB larger than it needed, which a ``malloc_trim(0)`` returned. :func:`release`
calls it where emberxr has just finished such a pass; elsewhere (other C libraries, other systems)
it does nothing.

The opposite happens in a run of model calls on the CPU. Each call allocates tens of megabytes of
activations and frees them at its end; with glibc's default, adaptive thresholds the freed top of
the heap goes back to the system after every call and the next call touches fresh pages again.
Measured on EmberFormer's 25 windows of 64² (the 256² forecast of ``docs/benchmarks.md``): about
10,000 page faults (40 MB) per call and 15-20 % of the call's time. :func:`retain_heap` (what
:class:`emberxr.inference.TorchRunner` and the training loop call on the CPU) fixes the two
thresholds instead, once per process, so that this memory stays in the heap for the next call, the
way PyTorch's CUDA allocator keeps its blocks: the process keeps up to :data:`RETAIN_BYTES` of free
heap that it used before (it never grows its peak), and :func:`release` still returns it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

__all__ = ["RETAIN_BYTES", "release", "retain_heap"]

#: free memory at the top of the heap that :func:`retain_heap` lets the process keep
RETAIN_BYTES = 512 << 20

#: allocations from this size up are separate mappings (glibc's own upper limit of the adaptive
#: threshold on 64-bit systems, which the adaptive rule reaches after the first free of a big block)
MMAP_BYTES = 32 << 20

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (the only one whose heap these calls tune), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl has no such function)
    except (OSError, AttributeError):
        return None
    return libc


@functools.cache
def _trim() -> object | None:
    libc = _glibc()
    if libc is None:
        return None
    fn = libc.malloc_trim
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


@functools.cache
def retain_heap() -> bool:
    """Keep freed heap memory in the process between calls (glibc; once per process).

    Sets glibc's trim threshold to :data:`RETAIN_BYTES` and its mapping threshold to
    :data:`MMAP_BYTES` (``mallopt``), which also ends their adaptive adjustment. Blocks below
    ``MMAP_BYTES`` then come from the heap, and its free top goes back to the system only above
    ``RETAIN_BYTES`` (or at :func:`release`).

    Returns
    -------
    bool
        True when the thresholds were set; False on other C libraries and systems (nothing
        changes there).
    """
    libc = _glibc()
    if libc is None:
        return False
    fn = libc.mallopt
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(fn(_M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(fn(_M_TRIM_THRESHOLD, RETAIN_BYTES))


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
