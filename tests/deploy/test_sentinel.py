"""Redis Sentinel (``REDIS_SENTINELS``): every Redis user of the platform finds the primary
through the sentinels and follows it when a replica is promoted.

A Redis primary, a replica of it and a sentinel, all of the test's own; the primary is killed
with SIGKILL (a host lost) and the sentinel promotes the replica. First each kind of client the
platform makes (``iotplatform/redisplace.py``) before and after, then the platform's processes
under load: web, worker, beat and the alert evaluator, their ``REDIS_URL`` pointing nowhere."""

import asyncio
import os
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery import Celery
from channels_redis.core import RedisChannelLayer
from django.core.cache.backends.redis import RedisCache
from kombu import Connection
from redis import Redis

from alerts.models import Alarm, NotificationDelivery
from iotplatform import redisplace
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading

from .. import servers
from ..alerts.notifying import inbox, people
from .test_faults import BATCH, DEVICES, Devices, _emails_settled, _env, _until, fleet

pytestmark = pytest.mark.slow


@contextmanager
def _watched_pair(
    directory: Path,
) -> Iterator[tuple[servers.RedisServer, servers.RedisServer, int]]:
    """A primary, its replica and a sentinel watching them; yields the sentinel's port last."""
    with (
        servers.redis_server(directory / "a") as primary,
        servers.redis_server(directory / "b", "--replicaof", "127.0.0.1", str(primary.port))
        as replica,
        servers.redis_sentinel(directory / "s", primary) as sentinel,
    ):  # fmt: skip
        yield primary, replica, sentinel


def _primary_port(sentinel: int) -> int:
    _host, port = Redis(port=sentinel).execute_command("SENTINEL", "get-master-addr-by-name", "iot")
    return int(port)


def _fail_over(primary: servers.RedisServer, replica: servers.RedisServer, sentinel: int) -> None:
    assert primary.proc is not None
    os.kill(primary.proc.pid, signal.SIGKILL)
    primary.proc.wait()
    _until(lambda: _primary_port(sentinel) == replica.port, timeout=30)
    assert _primary_port(sentinel) == replica.port, "the sentinel promoted no replica"


async def _round(place: redisplace.Place, layer: RedisChannelLayer, n: int) -> None:
    """One use of each kind of client; ``n`` tells the rounds apart."""
    sync = redisplace.client(place, socket_timeout=2)
    sync.set(f"sync-{n}", n)
    assert int(sync.get(f"sync-{n}") or 0) == n
    aio = redisplace.async_client(place, socket_timeout=2)
    await aio.set(f"async-{n}", n)
    assert int(await aio.get(f"async-{n}") or 0) == n
    await aio.aclose()

    config = redisplace.cache(place, KEY_PREFIX="t")
    cache = RedisCache(config["LOCATION"], config)
    cache.set(f"cache-{n}", n)
    assert cache.get(f"cache-{n}") == n

    await layer.send("probe", {"type": "probe", "n": n})
    assert (await asyncio.wait_for(layer.receive("probe"), 10))["n"] == n

    url, options = redisplace.celery(place)
    with Connection(url, transport_options=options) as connection:
        queue = connection.SimpleQueue("sentinel-probe")
        queue.put({"n": n})
        message = queue.get(timeout=10)
        message.ack()
        assert message.payload == {"n": n}
        queue.close()
    app = Celery("probe", broker=url, backend=url)
    app.conf.broker_transport_options = app.conf.result_backend_transport_options = options
    task_id = str(uuid.uuid4())
    app.backend.store_result(task_id, n, "SUCCESS")
    assert app.backend.get_task_meta(task_id)["result"] == n


def _replicated(primary: servers.RedisServer, replica: servers.RedisServer) -> bool:
    written = Redis(port=primary.port).info("replication")["master_repl_offset"]
    return Redis(port=replica.port).info("replication")["slave_repl_offset"] >= written


def test_each_kind_of_client_finds_the_primary_and_follows_a_failover(tmp_path: Path) -> None:
    with _watched_pair(tmp_path) as (primary, replica, sentinel):
        place = redisplace.place("redis://127.0.0.1:9/3", f"127.0.0.1:{sentinel}", "iot")
        layer = RedisChannelLayer(hosts=[redisplace.channel_host(place, socket_timeout=5)])

        async def run() -> None:
            await _round(place, layer, 1)
            _until(lambda: _replicated(primary, replica), timeout=10)
            await asyncio.to_thread(_fail_over, primary, replica, sentinel)
            # The same channel layer and a new round of every other client, on the promoted
            # replica; what was written before is there.
            for _ in range(20):  # the first calls may still meet the old primary's sockets
                try:
                    await _round(place, layer, 2)
                    break
                except Exception:
                    await asyncio.sleep(0.5)
            await _round(place, layer, 3)

        asyncio.run(run())
        # In the URL's database (3) of the promoted replica; nothing listens on the URL's port.
        assert Redis(port=replica.port, db=3).get("sync-1") == b"1"
        assert Redis(port=replica.port, db=3).get("async-3") == b"3"


@pytest.mark.django_db(transaction=True)
def test_the_platform_rides_through_a_failover_losing_no_reading_nor_alarm(
    tenant: Tenant, tmp_path: Path
) -> None:
    people(tenant)
    tokens = fleet(tenant)
    box = tmp_path / "mail"
    with _watched_pair(tmp_path) as (primary, replica, sentinel), servers.mail_sink(box) as mail:
        env = _env(primary, mail)
        env.update(REDIS_URL="redis://127.0.0.1:9/0", REDIS_SENTINELS=f"127.0.0.1:{sentinel}",
                   REDIS_SENTINEL_MASTER="iot")  # fmt: skip
        with (
            servers.asgi_server(None, **env) as url,
            servers.celery_beat(**env),
            servers.alerts_evaluator(**env) as evaluator,
            servers.celery_worker(**env) as worker,
        ):
            devices = Devices(url, tokens)
            devices.start()
            try:
                _until(lambda: NotificationDelivery.objects.filter(status="sent").exists())
                assert NotificationDelivery.objects.filter(status="sent").exists()
                _fail_over(primary, replica, sentinel)
                spells = devices.spells
                _until(lambda: devices.spells >= spells + 2 * DEVICES)
                count = devices.acknowledged
                _until(lambda: devices.acknowledged >= count + 5 * BATCH * DEVICES)
            finally:
                devices.running = False
                devices.join(30)
            assert Reading.objects.filter(tenant=tenant).count() == devices.acknowledged
            _until(lambda: Alarm.objects.count() >= devices.spells, timeout=30)
            assert Alarm.objects.count() == devices.spells
            _until(lambda: _emails_settled(box), timeout=60)
            assert _emails_settled(box)
            assert worker.poll() is None and evaluator.poll() is None, "a process gave up"
    assert devices.slowest < 10
    assert set(NotificationDelivery.objects.values_list("status", flat=True)) == {"sent"}
    ids = [m["Message-ID"] for m in inbox(box)]
    assert len(ids) == len(set(ids)) == NotificationDelivery.objects.count()
