"""Ingestion's last_seen flush against other writers of the devices' rows: it does not wait for
a transaction that only checked a reference to a device (the KEY SHARE lock a foreign key's check
takes: an anomaly event or a kept fit written for it), and a flush that finds the rows busy past
its lock timeout keeps what it held for the next one."""

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest
from django.test import override_settings

from devices import status
from devices.models import Device, DeviceStatus
from devices.services import device_create, device_types_install_catalog
from iotplatform.database import conninfo
from iotplatform.tenancy.models import Tenant
from telemetry.ingest.pipeline import IngestPipeline
from telemetry.ingest.seen import LastSeen

pytestmark = pytest.mark.django_db(transaction=True)

T0_MS = int(datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp() * 1000)
# The lock a foreign key's check takes on the row referred to (Django's constraints are deferred:
# at the commit of a transaction that wrote a row referring to the device).
REFERRING = "SELECT id FROM devices_device WHERE tenant_id = %s AND id = %s FOR KEY SHARE"


@pytest.fixture
def pump(tenant: Tenant) -> tuple[Device, str]:
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    return device_create(tenant=tenant, device_type=types["pump"], name="Pump 1", serial="P-1")


def _seen_of(pipeline: IngestPipeline) -> LastSeen:
    return next(c for c in pipeline.consumers if isinstance(c, LastSeen))


@override_settings(DB_LOCK_TIMEOUT_MS=300, INGEST_SEEN_INTERVAL=3600)
def test_a_busy_flush_keeps_the_devices_for_the_next_and_referring_rows_never_block_it(
    pump: tuple[Device, str],
) -> None:
    device, token = pump

    async def steps() -> None:
        pipeline = IngestPipeline()
        try:
            identity = await pipeline.authenticate_device(token)
            seen = _seen_of(pipeline)
            with psycopg.connect(conninfo()) as other:
                # Another transaction checked a reference to the device: the flush goes
                # through at once.
                other.execute(REFERRING, [device.tenant_id, device.id])
                await pipeline.ingest(identity, [{"ts": T0_MS, "values": {"temperature": 60}}])
                await seen.flush()
                assert not seen.seen
                other.rollback()
                first = await _last_seen(device.id)
                assert first is not None
                # Another transaction updating the device's row: the flush gives up after the
                # lock timeout, and keeps the device.
                other.execute("UPDATE devices_device SET health = 50 WHERE id = %s", [device.id])
                await pipeline.ingest(identity, [{"ts": T0_MS + 1, "values": {"temperature": 61}}])
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    await seen.flush()
                assert set(seen.seen) == {device.id}
                other.rollback()
            await seen.flush()  # the rows free: the kept device is flushed
            assert not seen.seen
            second = await _last_seen(device.id)
            assert second is not None and second > first
        finally:
            await pipeline.stop()

    asyncio.run(steps())
    device.refresh_from_db()
    assert device.status == DeviceStatus.HEALTHY


async def _last_seen(device_id: int) -> datetime | None:
    async with await psycopg.AsyncConnection.connect(conninfo()) as conn:
        cursor = await conn.execute(
            "SELECT last_seen FROM devices_device WHERE id = %s", [device_id]
        )
        row = await cursor.fetchone()
        return None if row is None else row[0]


def test_the_status_writer_does_not_wait_for_a_reference_check_on_the_device(
    pump: tuple[Device, str],
) -> None:
    device, _ = pump
    with (
        psycopg.connect(conninfo()) as other,
        psycopg.connect(conninfo(), options="-c lock_timeout=300") as writer,
    ):
        assert other.execute(REFERRING, [device.tenant_id, device.id]).fetchall() == [(device.id,)]
        with writer.transaction():
            writer.execute(status.LOCK_SQL, {"ids": [device.id]})  # no wait
        other.rollback()
