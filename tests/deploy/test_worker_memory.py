"""The Celery worker's memory bound (``CELERY_WORKER_MAX_MEMORY_PER_CHILD``): a pool process
that a task leaves above it exits and a fresh one takes the next task, so a slow creep in the
tasks' memory (the soak's worker pool) cannot grow without end. A real prefork worker, as
`make run` and compose start it, with the bound low enough for one task to pass it, and off."""

from pathlib import Path

import pytest

from iotplatform.celery import app

from .. import servers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]  # tasks read the db


def _pool(main: int) -> dict[int, str]:
    """The worker's pool processes (its main process's children) and their states."""
    out = {}
    for task in Path(f"/proc/{main}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                out[int(pid)] = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                continue
    return out


def _alive(main: int) -> set[int]:
    return {pid for pid, state in _pool(main).items() if state != "Z"}


def _worker(bound_kib: int) -> list[str]:
    return [
        str(servers.BIN / "celery"), "-A", "iotplatform", "worker", "--pool", "prefork",
        "--concurrency", "1", "--loglevel", "INFO", "--hostname", f"test-mem-{bound_kib}@%h",
        "--without-mingle", "--without-gossip",
    ]  # fmt: skip


def _task() -> None:
    """A task of the platform's (the health task: database and Redis), its result awaited."""
    assert app.send_task("iotplatform.healthcheck").get(timeout=60)["database"]["ok"]


@pytest.mark.parametrize(("bound_kib", "replaced"), [(1024, True), (0, False)])
def test_a_pool_process_left_over_the_bound_is_replaced(bound_kib: int, replaced: bool) -> None:
    app.control.purge()
    log = servers.ARTIFACTS / f"celery-worker-mem-{bound_kib}.log"
    env = {"CELERY_WORKER_MAX_MEMORY_PER_CHILD": str(bound_kib)}
    with servers.running(_worker(bound_kib), log, **env) as worker:
        servers.until(lambda: "ready" in log.read_text(), timeout=60)
        first = _alive(worker.pid)
        assert len(first) == 1
        _task()
        # Over the bound the process leaves after its task; under it, it stays.
        left = servers.until(lambda: not first & _alive(worker.pid), timeout=5, required=False)
        assert left is replaced
        _task()  # taken by a fresh process, or the same one
        assert (_alive(worker.pid) != first) is replaced
