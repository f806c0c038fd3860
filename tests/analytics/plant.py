"""A small plant written through the real writer: pumps reporting once a minute, so each
minute's mean is the reading itself and the expected scores can be reasoned about."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from devices.models import Device, DeviceStatus, DeviceType
from iotplatform.tenancy.models import Tenant
from tests.telemetry.known_readings import write

METRICS = {
    # metric: (mean, spread, warn_low, warn_high)
    "temperature": (60.0, 1.0, None, 75.0),
    "vibration": (2.0, 0.1, None, 4.0),
    "pressure": (50.0, 1.5, None, 95.0),
    "current": (12.0, 0.4, None, 30.0),
}
END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def pump_type(tenant: Tenant) -> DeviceType:
    metrics = {key: {"unit": "", "warn_high": high} for key, (_, _, _, high) in METRICS.items()}
    device_type, _ = DeviceType.objects.get_or_create(
        tenant=tenant, name="pump", defaults={"metrics": metrics}
    )
    return device_type


def pumps(tenant: Tenant, count: int) -> list[Device]:
    device_type = pump_type(tenant)
    return [
        Device.objects.create(
            tenant=tenant,
            type=device_type,
            name=f"Pump {i + 1}",
            serial=f"{tenant.slug}-P{i + 1:03d}",
            status=DeviceStatus.HEALTHY,
        )
        for i in range(count)
    ]


def normal(
    devices: Sequence[Device], *, start: datetime, minutes: int, seed: int = 0
) -> list[tuple[datetime, int, int, str, float]]:
    """Correlated normal operation: one load factor drives every metric (as in a real pump),
    plus sensor noise; one reading per metric a minute."""
    rng = np.random.default_rng(seed)
    rows = []
    for device in devices:
        load = rng.normal(size=minutes)
        for metric, (mean, spread, _, _) in METRICS.items():
            values = mean + spread * (0.8 * load + 0.6 * rng.normal(size=minutes))
            for i in range(minutes):
                rows.append(
                    (
                        start + timedelta(minutes=i),
                        device.tenant_id,
                        device.id,
                        metric,
                        float(values[i]),
                    )
                )
    return rows


def reading(
    device: Device, at: datetime, **overrides: float
) -> list[tuple[datetime, int, int, str, float]]:
    """One minute of a device: every metric at its mean unless overridden."""
    values: dict[str, Any] = {m: spec[0] for m, spec in METRICS.items()} | overrides
    return [(at, device.tenant_id, device.id, m, float(v)) for m, v in values.items()]


def seen(devices: Sequence[Device], at: datetime) -> None:
    Device.objects.filter(id__in=[d.id for d in devices]).update(last_seen=at)


def store(rows: Sequence[tuple[datetime, int, int, str, float]]) -> None:
    write(rows)
