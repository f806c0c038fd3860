from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from devices.models import Device
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading, RollupHour, RollupMinute
from telemetry.services import readings_retention_apply

from . import known_readings


def chunk_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'telemetry_reading'"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_each_tenant_keeps_its_own_retention(
    tenant: Tenant, other_tenant: Tenant, device: Device, other_device: Device
) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(retention_days=30)
    now = timezone.now().replace(microsecond=0)
    ages = (400, 100, 1)
    known_readings.write(
        [
            (now - timedelta(days=age), d.tenant_id, d.id, "temperature", float(age))
            for age in ages
            for d in (device, other_device)
        ]
    )
    chunks_before = chunk_count()

    deleted = readings_retention_apply(now=now)

    kept = {(d, v) for d, v in Reading.objects.values_list("device_id", "value")}
    assert kept == {(device.id, 1.0), (other_device.id, 100.0), (other_device.id, 1.0)}
    for rollup in (RollupMinute, RollupHour):
        assert set(rollup.objects.values_list("device_id", "sum")) == kept
    # The 400-day-old readings went with their chunk (older than every tenant's retention).
    assert chunk_count() == chunks_before - 1
    assert deleted["telemetry_reading"] == 1  # only tenant's 100-day reading needed a DELETE
    assert readings_retention_apply(now=now) == dict.fromkeys(deleted, 0)


@pytest.mark.django_db(transaction=True)
def test_the_platforms_maximum_bounds_every_tenants_retention(
    tenant: Tenant, device: Device, settings: Any
) -> None:
    """A tenant that chose a year keeps 60 days once the platform's maximum is lowered to 60."""
    settings.RETENTION_MAX_DAYS = 60
    now = timezone.now().replace(microsecond=0)
    known_readings.write(
        [(now - timedelta(days=age), tenant.id, device.id, "temperature", float(age))
         for age in (100, 30)]
    )  # fmt: skip
    readings_retention_apply(now=now)
    assert list(Reading.objects.values_list("value", flat=True)) == [30.0]
