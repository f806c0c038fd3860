"""Run in a subprocess against a given DATABASE_URL: write the known data set and print the
series the query layer computes, so TimescaleDB and plain PostgreSQL can be compared."""

import json
from datetime import timedelta

import django

django.setup()

from django.db import connection  # noqa: E402

from devices.models import Device, DeviceType  # noqa: E402
from iotplatform.tenancy.models import Tenant  # noqa: E402
from telemetry import queries  # noqa: E402
from tests.telemetry import known_readings  # noqa: E402


def main() -> None:
    tenant = Tenant.objects.create(slug="probe", name="Probe")
    device_type = DeviceType.objects.create(tenant=tenant, name="pump")
    a = Device.objects.create(tenant=tenant, type=device_type, name="A", serial="A")
    b = Device.objects.create(tenant=tenant, type=device_type, name="B", serial="B")
    known_readings.write(
        known_readings.rows(tenant.id, a.id) + known_readings.rows(tenant.id, b.id)
    )
    end = known_readings.T0 + timedelta(hours=3)
    out = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
        out["timescaledb"] = cursor.fetchone()[0] == 1
    for name in ("10s", "1m", "15m", "1h", "1d"):
        series = queries.device_series(
            tenant_id=tenant.id,
            device_id=a.id,
            metrics=["temperature", "vibration"],
            start=known_readings.T0 + timedelta(seconds=75),
            end=end,
            width=queries.BUCKETS[name],
        )
        out[f"device-{name}"] = {"table": series.source, "series": series.metrics}
    fleet = queries.fleet_series(
        tenant_id=tenant.id,
        metric="temperature",
        start=known_readings.T0,
        end=end,
        width=queries.BUCKETS["1h"],
    )
    out["fleet-1h"] = {"table": fleet.source, "series": fleet.metrics}
    print(json.dumps(out, default=str, sort_keys=True))


if __name__ == "__main__":
    main()
