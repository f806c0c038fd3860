"""The transport-free ingest pipeline, called in-process the way any transport calls it, and its
after-commit consumers as configured in settings."""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from django.test import override_settings

from devices.credentials import DeviceIdentity, GatewayIdentity
from devices.models import Device, DeviceStatus, DeviceStatusChange
from devices.services import device_create, device_types_install_catalog, ingest_key_create
from iotplatform.tenancy.models import Tenant
from telemetry.ingest.consumers import Resources
from telemetry.ingest.errors import IngestError
from telemetry.ingest.pipeline import IngestPipeline, Result
from telemetry.ingest.writer import Row
from telemetry.models import Reading

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
DEFAULT_CONSUMERS = ["telemetry.ingest.live.LivePush", "telemetry.ingest.seen.LastSeen"]


class Recorder:
    """A consumer that keeps what it is given (class-level: the pipeline builds its own)."""

    rows: ClassVar[list[Row]] = []
    events: ClassVar[list[str]] = []

    def __init__(self, resources: Resources) -> None:
        assert resources.pool is not None and resources.redis is not None
        self.events.append("built")

    async def start(self) -> None:
        self.events.append("started")

    def committed(self, rows: Sequence[Row]) -> None:
        self.rows.extend(rows)

    async def stop(self) -> None:
        self.events.append("stopped")


class Broken(Recorder):
    def committed(self, rows: Sequence[Row]) -> None:
        raise RuntimeError("a consumer with a bug")


@pytest.fixture(autouse=True)
def _clear_recorder() -> None:
    Recorder.rows.clear()
    Recorder.events.clear()


@pytest.fixture
def pump(tenant: Tenant) -> tuple[Device, str]:
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    return device_create(tenant=tenant, device_type=types["pump"], name="Pump 1", serial="P-1")


def run(steps: Any) -> Any:
    """Run ``steps(pipeline)`` on a fresh pipeline and stop it (flushing the consumers)."""

    async def main() -> Any:
        pipeline = IngestPipeline()
        try:
            return await steps(pipeline)
        finally:
            await pipeline.stop()

    return asyncio.run(main())


@override_settings(
    INGEST_AFTER_COMMIT=[*DEFAULT_CONSUMERS, "tests.telemetry.test_pipeline.Recorder"]
)
def test_any_transport_gets_per_item_results_and_consumers_get_only_stored_rows(
    pump: tuple[Device, str],
) -> None:
    device, token = pump
    first = [{"ts": T0_MS + i, "values": {"temperature": 60.0 + i}} for i in range(3)]
    resend = [*first[1:], {"ts": T0_MS + 3, "values": {"temperature": 63.0, "flow": "x"}}]

    async def steps(pipeline: IngestPipeline) -> tuple[Result, Result]:
        identity = await pipeline.authenticate_device(token)
        assert identity == DeviceIdentity(device.id, device.tenant_id, "P-1")
        return await pipeline.ingest(identity, first), await pipeline.ingest(identity, resend)

    a, b = run(steps)
    assert (a.status, a.answer()) == (200, {"accepted": 3, "duplicate": 0, "rejected": 0})
    assert b.status == 200
    assert b.answer() == {
        "accepted": 1,
        "duplicate": 2,
        "rejected": 1,
        "errors": [{"reason": "value is a str, not a number", "item": 2, "key": "flow"}],
    }
    assert Reading.objects.filter(device=device).count() == 4
    # Resends are not handed on: every stored reading exactly once, in the table's shape.
    assert sorted(Recorder.rows) == [
        (T0 + timedelta(milliseconds=i), device.tenant_id, device.id, "temperature", 60.0 + i)
        for i in range(4)
    ]
    assert Recorder.events == ["built", "started", "stopped"]
    # The configured default consumers ran too: last_seen flushed at stop, offline → healthy.
    device.refresh_from_db()
    assert device.status == DeviceStatus.HEALTHY and device.last_seen is not None
    assert DeviceStatusChange.objects.get(device=device).reason == "data received"


@override_settings(
    INGEST_AFTER_COMMIT=[
        "tests.telemetry.test_pipeline.Broken",
        "tests.telemetry.test_pipeline.Recorder",
    ]
)
def test_a_broken_consumer_costs_neither_the_answer_nor_the_other_consumers(
    pump: tuple[Device, str],
) -> None:
    device, token = pump

    async def steps(pipeline: IngestPipeline) -> Result:
        identity = await pipeline.authenticate_device(token)
        return await pipeline.ingest(identity, {"temperature": 70.0})

    result = run(steps)
    assert result.answer() == {"accepted": 1, "duplicate": 0, "rejected": 0}
    assert [(r[2], r[3], r[4]) for r in Recorder.rows] == [(device.id, "temperature", 70.0)]


@override_settings(INGEST_AFTER_COMMIT=["tests.telemetry.test_pipeline.Recorder"])
def test_gateway_identity_reaches_only_its_tenants_serials(
    tenant: Tenant, other_tenant: Tenant, pump: tuple[Device, str]
) -> None:
    device, _ = pump
    theirs = {t.name: t for t in device_types_install_catalog(tenant=other_tenant)}
    device_create(tenant=other_tenant, device_type=theirs["pump"], name="Theirs", serial="G-1")
    _, key = ingest_key_create(tenant=tenant)

    async def steps(pipeline: IngestPipeline) -> Result:
        identity = await pipeline.authenticate_gateway(key)
        assert identity == GatewayIdentity(tenant.id)
        payload = {"P-1": {"ts": T0_MS, "values": {"temperature": 1.0}}, "G-1": {"t": 2.0}}
        return await pipeline.ingest(identity, payload)

    result = run(steps)
    assert result.answer() == {
        "accepted": 1,
        "duplicate": 0,
        "rejected": 1,
        "errors": [{"reason": "unknown device serial 'G-1'", "device": "G-1"}],
    }
    assert [r[2] for r in Recorder.rows] == [device.id]
    assert not Reading.objects.filter(tenant=other_tenant).exists()


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        (42, 400, "expected a JSON object or array"),
        ([], 400, "empty array"),
        ([{"t": i} for i in range(10_001)], 413, "10001 points in one request"),
    ],
)
def test_unusable_messages_raise_an_error_naming_the_problem_and_store_nothing(
    pump: tuple[Device, str], payload: Any, status: int, message: str
) -> None:
    device, token = pump

    async def steps(pipeline: IngestPipeline) -> None:
        identity = await pipeline.authenticate_device(token)
        await pipeline.ingest(identity, payload)

    with pytest.raises(IngestError) as caught:
        run(steps)
    assert caught.value.status == status and message in caught.value.message
    assert not Reading.objects.filter(device=device).exists()


def test_unknown_credentials_are_refused(pump: tuple[Device, str]) -> None:
    _, token = pump

    async def steps(pipeline: IngestPipeline) -> None:
        await pipeline.authenticate_gateway(token)  # a device token is not a gateway key

    with pytest.raises(IngestError) as caught:
        run(steps)
    assert (caught.value.status, caught.value.message) == (401, "unknown or revoked ingestion key")


@override_settings(INGEST_AFTER_COMMIT=["tests.telemetry.test_pipeline.Recorder"])
def test_many_messages_at_once_get_each_their_own_answer(
    tenant: Tenant, other_tenant: Tenant, pump: tuple[Device, str]
) -> None:
    """The MQTT bridge's call: each message (device's, gateway's, bad) answered as if alone."""
    device, token = pump
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    second, _ = device_create(tenant=tenant, device_type=types["pump"], name="P2", serial="P-2")
    theirs = {t.name: t for t in device_types_install_catalog(tenant=other_tenant)}
    device_create(tenant=other_tenant, device_type=theirs["pump"], name="Theirs", serial="G-1")
    _, key = ingest_key_create(tenant=tenant)
    readings = [{"ts": T0_MS + i, "values": {"temperature": 60.0 + i}} for i in range(3)]

    async def steps(pipeline: IngestPipeline) -> list[Any]:
        mine = await pipeline.authenticate_device(token)
        gateway = await pipeline.authenticate_gateway(key)
        two = DeviceIdentity(second.id, tenant.id, "P-2")
        gateway_payload = {"P-2": {"ts": T0_MS, "values": {"flow": 1.0}}, "G-1": {"flow": 2.0}}
        first = await pipeline.ingest_many(
            [(mine, readings, 3), (two, 42, 1), (gateway, gateway_payload, 1)]
        )
        again = await pipeline.ingest_many([(mine, readings[1:], 1)])
        return [*first, *again]

    stored, refused, through_gateway, resent = run(steps)
    assert stored.answer() == {"accepted": 3, "duplicate": 0, "rejected": 0}
    assert isinstance(refused, IngestError) and refused.status == 400
    assert "expected a JSON object or array" in refused.message
    assert through_gateway.answer() == {
        "accepted": 1,
        "duplicate": 0,
        "rejected": 1,
        "errors": [{"reason": "unknown device serial 'G-1'", "device": "G-1"}],
    }
    assert resent.answer() == {"accepted": 0, "duplicate": 2, "rejected": 0}
    assert Reading.objects.filter(device=device).count() == 3
    assert list(Reading.objects.filter(device=second).values_list("metric", flat=True)) == ["flow"]
    assert not Reading.objects.filter(tenant=other_tenant).exists()
    assert sorted(r[2] for r in Recorder.rows) == sorted([device.id] * 3 + [second.id])


@override_settings(INGEST_DEVICE_RATE=2)
def test_many_messages_at_once_count_against_each_devices_rate(
    tenant: Tenant, pump: tuple[Device, str]
) -> None:
    """A merged array stands for its messages: three of a device over a rate of two a second
    is refused (429, nothing stored), its neighbour in the same call is not."""
    device, token = pump
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    second, _ = device_create(tenant=tenant, device_type=types["pump"], name="P2", serial="P-2")

    async def steps(pipeline: IngestPipeline) -> list[Any]:
        mine = await pipeline.authenticate_device(token)
        two = DeviceIdentity(second.id, tenant.id, "P-2")
        return await pipeline.ingest_many([(mine, {"flow": 1.0}, 3), (two, {"flow": 2.0}, 1)])

    over, within = run(steps)
    assert isinstance(over, IngestError) and over.status == 429
    assert "requests a second for this device" in over.message
    assert within.answer() == {"accepted": 1, "duplicate": 0, "rejected": 0}
    assert not Reading.objects.filter(device=device).exists()
    assert Reading.objects.filter(device=second).count() == 1
