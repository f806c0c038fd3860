"""A Celery pool process hands its freed C heap back after every task (``iotplatform.memory``):
what glibc keeps of pieces freed below a live one otherwise stays in the process's RSS."""

import gc
from pathlib import Path

import pytest
from celery.signals import task_postrun
from django.test import override_settings

from iotplatform import memory

PAGE = 4096


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE / 2**20


def _fragment() -> list[bytes]:
    """About 300 MiB in pieces malloc serves from its heap (over pymalloc's 512 bytes), freed,
    with a few pieces allocated after them kept: the heap's top is in use, so plain free()
    cannot shrink it. Returns the kept pieces."""
    pieces = [bytes(1000 + i % 7) for i in range(300_000)]
    kept = [bytes(1000) for _ in range(10)]
    del pieces
    gc.collect()
    return kept


def _after_a_task() -> None:
    task_postrun.send(sender=None, task_id="t", task=None, args=(), kwargs={}, retval=None)


@pytest.mark.parametrize("trim", [True, False])
def test_after_a_task_the_freed_heap_goes_back_to_the_system_unless_turned_off(
    trim: bool,
) -> None:
    memory.malloc_trim()
    before = _rss_mib()
    kept = _fragment()
    held = _rss_mib()
    assert held - before > 200  # freed, and still the process's
    with override_settings(CELERY_WORKER_MALLOC_TRIM=trim):
        _after_a_task()
    after = _rss_mib()
    if trim:
        assert after - before < 50
    else:
        assert after - held > -50
        memory.malloc_trim()  # leave the test process as it was
    assert len(kept) == 10
