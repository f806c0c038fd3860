"""Handing a process's freed C heap back to the system.

A Celery pool process runs the apply cycle every minute: pandas and numpy allocate and free
hundreds of megabytes in pieces, and glibc's malloc keeps freed pieces in its arenas for reuse,
returning only a free top of a heap: in the soak (``bench/soak.py --trace-memory``) a pool
process's main heap held 125-130 MiB, 45 of them free, while what Python holds stayed at 2 MB.
``malloc_trim(0)`` returns every whole free page inside every arena, so after a task the heap
keeps resident about what it uses (65 MiB in the next hour's soak).
"""

import ctypes
import ctypes.util
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
try:
    _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    _trim.argtypes, _trim.restype = [ctypes.c_size_t], ctypes.c_int
except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
    _trim = None


def malloc_trim() -> bool:
    """Return the C heap's free pages to the system; False where the C library cannot."""
    if _trim is None:
        return False
    _trim(0)
    return True
