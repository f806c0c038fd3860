"""Reads of telemetry. Every selector takes the tenant first and returns nothing without one."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Avg

from devices.models import Device, DeviceStatus
from iotplatform.tenancy.models import Tenant

from .models import LatestReading


def latest_values(
    *, tenant: Tenant | None, device_ids: Iterable[int] | None = None
) -> dict[int, dict[str, dict[str, Any]]]:
    """The newest value of every metric of the tenant's devices (or of some of them), in one
    query: ``{device_id: {metric: {"time": …, "value": …}}}``."""
    if tenant is None:
        return {}
    qs = LatestReading.objects.filter(tenant=tenant)
    if device_ids is not None:
        qs = qs.filter(device_id__in=list(device_ids))
    result: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    row: tuple[int, str, datetime, float]
    for row in qs.values_list("device_id", "metric", "time", "value").iterator(chunk_size=5000):
        result[row[0]][row[1]] = {"time": row[2], "value": row[3]}
    return dict(result)


def metrics_of(*, tenant: Tenant | None, devices: Iterable[Any]) -> list[str]:
    """Every metric the devices declare (their types) or have reported, sorted."""
    if tenant is None:
        return []
    devices = list(devices)
    names: set[str] = set()
    for device in devices:
        names.update(device.type.metrics)
    names.update(
        LatestReading.objects.filter(tenant=tenant, device_id__in=[d.id for d in devices])
        .values_list("metric", flat=True)
        .distinct()
    )
    return sorted(names)


def metric_averages(*, tenant: Tenant | None, metric: str, since: Any) -> dict[int, float]:
    """Average of one metric per device since a time, from the minute rollups (one query)."""
    if tenant is None:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT device_id, sum(sum) / sum(count) FROM telemetry_rollup_1m "
            "WHERE tenant_id = %s AND metric = %s "
            "AND bucket >= date_trunc('minute', %s::timestamptz) "
            "GROUP BY device_id",
            [tenant.id, metric, since],
        )
        return {device_id: value for device_id, value in cursor.fetchall()}


def warning_limits(devices: Iterable[Any]) -> list[tuple[int, str, float | None, float | None]]:
    """(device, metric, warn_low, warn_high) per declared metric: the device's own thresholds
    (set_config) over its type's defaults."""
    limits = []
    for device in devices:
        for metric, definition in device.metric_definitions().items():
            low, high = definition.get("warn_low"), definition.get("warn_high")
            if low is not None or high is not None:
                limits.append(
                    (
                        device.id,
                        metric,
                        None if low is None else float(low),
                        None if high is None else float(high),
                    )
                )
    return limits


def readings_summary(
    *, tenant: Tenant, now: datetime, window: timedelta = timedelta(minutes=5)
) -> dict[str, Any]:
    """What the readings say about the tenant's fleet (the dashboard's telemetry figures):
    the mean of the active devices' latest temperatures, and the window's readings with the
    share beyond their warning thresholds (each device's own over its type's)."""
    devices = Device.objects.filter(tenant=tenant)
    active = [DeviceStatus.HEALTHY, DeviceStatus.ANOMALY]
    avg_temperature = LatestReading.objects.filter(
        tenant=tenant, metric="temperature", device__status__in=active
    ).aggregate(v=Avg("value"))["v"]
    limits = warning_limits(devices.select_related("type").only("id", "desired_config", "type"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE r.value < l.lo OR r.value > l.hi) "
            "FROM telemetry_reading r LEFT JOIN "
            "unnest(%s::int8[], %s::text[], %s::float8[], %s::float8[]) "
            "AS l(device, metric, lo, hi) "
            "ON l.device = r.device_id AND l.metric = r.metric "
            "WHERE r.tenant_id = %s AND r.time >= %s AND r.time <= %s",
            [
                [x[0] for x in limits],
                [x[1] for x in limits],
                [x[2] for x in limits],
                [x[3] for x in limits],
                tenant.id,
                now - window,
                now,
            ],
        )
        readings, beyond = cursor.fetchone()
    return {
        "avg_temperature": avg_temperature,
        "readings": readings,
        "anomaly_rate": beyond / readings if readings else None,
    }
