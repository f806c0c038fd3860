"""Readings stored before values were bounded (1e308, infinities) are removed by the repair the
migration runs, and what they broke is whole again: sums, statistics, latest values."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from devices.models import Device
from iotplatform.tenancy.models import Tenant
from telemetry.models import LatestReading
from telemetry.rollups import extremes_repair

from .known_readings import write

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _rollup(device: Device) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bucket, count, sum, min, max FROM telemetry_rollup_1h WHERE device_id = %s",
            [device.id],
        )
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_extremes_are_removed_and_what_they_touched_recomputed(
    tenant: Tenant, device: Device, other_device: Device, api_as: Any, viewer: Any
) -> None:
    write(
        [
            (T0, tenant.id, device.id, "temperature", 20.0),
            (T0 + timedelta(seconds=1), tenant.id, device.id, "temperature", 1e308),
            (T0 + timedelta(seconds=2), tenant.id, device.id, "temperature", float("inf")),
            (T0 + timedelta(seconds=3), tenant.id, device.id, "temperature", 22.0),
            (T0 + timedelta(seconds=4), tenant.id, device.id, "temperature", -1e300),
            (T0, other_device.tenant_id, other_device.id, "temperature", 5.0),
        ]
    )
    assert extremes_repair(connection) == 3
    assert _rollup(device) == [(T0, 2, 42.0, 20.0, 22.0)]
    assert _rollup(other_device) == [(T0, 1, 5.0, 5.0, 5.0)]  # untouched
    latest = LatestReading.objects.get(device=device, metric="temperature")
    assert (latest.time, latest.value) == (T0 + timedelta(seconds=3), 22.0)
    stats = api_as(viewer).get(
        f"/api/v1/devices/{device.id}/statistics",
        {"start": T0.isoformat(), "end": (T0 + timedelta(minutes=1)).isoformat()},
    )
    assert stats.status_code == 200
    assert extremes_repair(connection) == 0  # idempotent
