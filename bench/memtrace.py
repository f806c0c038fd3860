"""Where a Celery pool process's memory goes, for ``bench/soak.py --trace-memory`` (bench only:
the soak's worker imports it with ``--include memtrace``).

Each pool process starts ``tracemalloc`` (Python objects and numpy's buffers, which numpy
reports to it) when it starts. After every task it appends one line to ``memory.csv`` in
``IOT_MEMTRACE_DIR``: the process, the task, its resident memory, what tracemalloc holds, and
glibc's own count (``mallinfo2``: bytes in use by malloc, bytes it holds from the system in its
arenas and in mmapped blocks, and the free bytes inside the arenas). Python objects growing
point at a leak; malloc in use flat while its arenas and the RSS grow point at fragmentation.
Every ``IOT_MEMTRACE_EVERY`` seconds (default 300) it also writes a tracemalloc snapshot
(``<pid>-<seconds>.snap``) to compare by line of code.
"""

import csv
import ctypes
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

from celery.signals import task_postrun, worker_process_init

OUT = Path(os.environ.get("IOT_MEMTRACE_DIR", "memtrace"))
EVERY = float(os.environ.get("IOT_MEMTRACE_EVERY", "300"))
FRAMES = 8
PAGE = os.sysconf("SC_PAGE_SIZE")
MALLINFO2 = [
    "arena",
    "ordblks",
    "smblks",
    "hblks",
    "hblkhd",
    "usmblks",
    "fsmblks",
    "uordblks",
    "fordblks",
    "keepcost",
]
FIELDS = ["at", "pid", "task", "rss", "traced", "malloc_used", "arena", "mmapped", "arena_free"]


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in MALLINFO2]


_libc = ctypes.CDLL("libc.so.6")
_libc.mallinfo2.restype = _Mallinfo2
_state: dict[str, float] = {"started": 0.0, "last": 0.0}


@worker_process_init.connect
def _start(**_: Any) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(FRAMES)
    _state["started"] = _state["last"] = time.monotonic()


@task_postrun.connect
def _after(task: Any = None, **_: Any) -> None:
    if not tracemalloc.is_tracing():
        return
    info = _libc.mallinfo2()
    with open(f"/proc/{os.getpid()}/statm") as statm:
        rss = int(statm.read().split()[1]) * PAGE
    row = {
        "at": round(time.time(), 1),
        "pid": os.getpid(),
        "task": getattr(task, "name", ""),
        "rss": rss,
        "traced": tracemalloc.get_traced_memory()[0],
        "malloc_used": info.uordblks + info.hblkhd,
        "arena": info.arena,
        "mmapped": info.hblkhd,
        "arena_free": info.fordblks,
    }
    path = OUT / "memory.csv"
    new = not path.exists()
    with path.open("a", newline="") as out:
        writer = csv.DictWriter(out, FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)
    now = time.monotonic()
    if now - _state["last"] >= EVERY:
        _state["last"] = now
        seconds = int(now - _state["started"])
        tracemalloc.take_snapshot().dump(str(OUT / f"{os.getpid()}-{seconds:05d}.snap"))
