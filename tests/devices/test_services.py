from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from devices import catalog, tokens
from devices.models import Device, DeviceCredential, DeviceStatus, DeviceStatusChange
from devices.services import (
    device_create,
    device_delete,
    device_offline_sweep,
    device_token_rotate,
    device_type_create,
    device_types_install_catalog,
)
from iotplatform.tenancy.models import Tenant
from telemetry.ingest.writer import write_sync
from telemetry.models import LatestReading, Reading


@pytest.mark.django_db
class TestCatalog:
    def test_installs_every_demo_type_once(self, tenant: Tenant) -> None:
        first = device_types_install_catalog(tenant=tenant)
        again = device_types_install_catalog(tenant=tenant)
        assert [t.id for t in first] == [t.id for t in again]
        names = {t.name: t for t in first}
        assert set(names) == {"pump", "motor", "compressor", "edge gateway", "battery sensor"}
        assert set(names["pump"].metrics) == {
            "temperature",
            "vibration",
            "pressure",
            "flow",
            "current",
        }
        assert set(names["motor"].metrics) == {
            "temperature",
            "vibration",
            "speed",
            "current",
            "voltage",
        }
        assert names["battery sensor"].metrics["battery"]["unit"] == "%"

    def test_catalog_definitions_are_valid(self, tenant: Tenant) -> None:
        for name, spec in catalog.DEVICE_TYPES.items():
            device_type_create(tenant=tenant, name=f"copy of {name}", metrics=spec["metrics"])

    @pytest.mark.parametrize(
        "metrics",
        [
            {"bad key!": {}},
            {"temp\n": {}},
            {"t": {"min": "cold"}},
            {"t": {"min": 5, "max": 1}},
            {"t": 3},
            ["temperature"],
        ],
    )
    def test_bad_metric_definitions_are_refused(self, tenant: Tenant, metrics: Any) -> None:
        with pytest.raises(ValidationError) as exc:
            device_type_create(tenant=tenant, name="x", metrics=metrics)
        assert "metrics" in exc.value.message_dict


@pytest.mark.django_db
class TestDeviceCreate:
    def test_token_is_returned_once_and_stored_hashed(self, tenant: Tenant) -> None:
        pump = device_types_install_catalog(tenant=tenant)[0]
        device, token = device_create(tenant=tenant, device_type=pump, name="P")
        credential = DeviceCredential.objects.get(device=device)
        assert token not in credential.token_hash
        assert credential.prefix == tokens.token_prefix(token)
        assert tokens.token_matches(token, credential.token_hash)
        assert device.serial.startswith("PUM-")

    def test_foreign_type_and_duplicate_serial_are_refused(
        self, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        ours = device_types_install_catalog(tenant=tenant)[0]
        theirs = device_types_install_catalog(tenant=other_tenant)[0]
        with pytest.raises(ValidationError, match="type"):
            device_create(tenant=tenant, device_type=theirs, name="X")
        device_create(tenant=tenant, device_type=ours, name="A", serial="S-1")
        with pytest.raises(ValidationError, match="serial"):
            device_create(tenant=tenant, device_type=ours, name="B", serial="S-1")
        assert Device.objects.count() == 1

    def test_rotation_revokes_old_tokens(self, tenant: Tenant) -> None:
        pump = device_types_install_catalog(tenant=tenant)[0]
        device, old = device_create(tenant=tenant, device_type=pump, name="P")
        new = device_token_rotate(device=device)
        active = DeviceCredential.objects.get(device=device, revoked_at__isnull=True)
        assert active.prefix == tokens.token_prefix(new) != tokens.token_prefix(old)

    def test_delete_removes_readings(self, tenant: Tenant) -> None:
        pump = device_types_install_catalog(tenant=tenant)[0]
        device, _ = device_create(tenant=tenant, device_type=pump, name="P")
        keep, _ = device_create(tenant=tenant, device_type=pump, name="Q")
        now = timezone.now()
        with connection.cursor():
            pg = connection.connection
            write_sync(
                pg,
                [(now, tenant.id, device.id, "t", 1.0), (now, tenant.id, keep.id, "t", 2.0)],
            )
        device_delete(device=device)
        assert list(Reading.objects.values_list("device_id", flat=True)) == [keep.id]
        assert list(LatestReading.objects.values_list("device_id", flat=True)) == [keep.id]


@pytest.mark.django_db
def test_offline_sweep(tenant: Tenant) -> None:
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    now = timezone.now()
    silent, _ = device_create(tenant=tenant, device_type=types["pump"], name="Silent")
    fresh, _ = device_create(tenant=tenant, device_type=types["pump"], name="Fresh")
    slow, _ = device_create(tenant=tenant, device_type=types["battery sensor"], name="Slow")
    resting, _ = device_create(tenant=tenant, device_type=types["pump"], name="Resting")
    Device.objects.filter(pk=silent.pk).update(
        status="healthy", last_seen=now - timedelta(seconds=16)
    )
    Device.objects.filter(pk=fresh.pk).update(
        status="anomaly", last_seen=now - timedelta(seconds=14)
    )
    # A battery sensor reports every 30 s: 60 s of silence is still within 3 intervals.
    Device.objects.filter(pk=slow.pk).update(
        status="healthy", last_seen=now - timedelta(seconds=60)
    )
    Device.objects.filter(pk=resting.pk).update(status="maintenance", last_seen=None)

    assert device_offline_sweep(now=now) == 1
    statuses = dict(Device.objects.values_list("name", "status"))
    assert statuses == {
        "Silent": "offline",
        "Fresh": "anomaly",
        "Slow": "healthy",
        "Resting": "maintenance",
    }
    change = DeviceStatusChange.objects.get()
    assert (change.device_id, change.from_status, change.to_status) == (
        silent.id,
        DeviceStatus.HEALTHY,
        DeviceStatus.OFFLINE,
    )
    assert device_offline_sweep(now=now) == 0  # safe to run twice


@pytest.mark.django_db(transaction=True)
def test_sync_writer_is_idempotent_and_keeps_the_first_value(tenant: Tenant) -> None:
    pump = device_types_install_catalog(tenant=tenant)[0]
    device, _ = device_create(tenant=tenant, device_type=pump, name="P")
    t = timezone.now().replace(microsecond=0)
    rows = [
        (t + timedelta(seconds=i), tenant.id, device.id, "temperature", float(i))
        for i in range(100)
    ]
    connection.ensure_connection()
    pg = connection.connection
    with pg.transaction():
        assert write_sync(pg, rows) is None  # all new: the COPY fast path
    resend = [*rows[50:], (t + timedelta(seconds=100), tenant.id, device.id, "temperature", 9.0)]
    resend[0] = (*resend[0][:4], -1.0)
    with pg.transaction():
        stored = write_sync(pg, resend)
    assert stored == {(device.id, "temperature", t + timedelta(seconds=100))}
    assert Reading.objects.filter(device=device).count() == 101
    assert Reading.objects.get(device=device, time=t + timedelta(seconds=50)).value == 50.0
    assert LatestReading.objects.get(device=device).value == 9.0


@pytest.mark.django_db(transaction=True)
def test_rollups_match_the_raw_readings_after_resends(tenant: Tenant) -> None:
    pump = device_types_install_catalog(tenant=tenant)[0]
    device, _ = device_create(tenant=tenant, device_type=pump, name="P")
    t = timezone.now().replace(minute=58, second=0, microsecond=0) - timedelta(hours=1)
    rows = [
        (t + timedelta(seconds=7 * i), tenant.id, device.id, m, float((i * 37) % 11))
        for i in range(60)
        for m in ("temperature", "vibration")
    ]  # spans 2 hours
    connection.ensure_connection()
    pg = connection.connection
    for batch in (rows[:70], rows[40:], rows):  # overlapping resends
        with pg.transaction():
            write_sync(pg, batch)
    with connection.cursor() as cursor:
        for table, width in (("telemetry_rollup_1m", "minute"), ("telemetry_rollup_1h", "hour")):
            cursor.execute(
                f"SELECT metric, bucket, count, sum, min, max FROM {table} ORDER BY 1, 2"
            )
            rolled = cursor.fetchall()
            cursor.execute(
                f"SELECT metric, date_trunc('{width}', time), count(*), sum(value), min(value),"
                " max(value) FROM telemetry_reading GROUP BY 1, 2 ORDER BY 1, 2"
            )
            assert rolled == cursor.fetchall()
            assert sum(r[2] for r in rolled) == 120
