"""Reads of telemetry. Every selector takes the tenant first and returns nothing without one."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

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
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT device_id, sum(sum) / sum(count) FROM telemetry_rollup_1m "
            "WHERE tenant_id = %s AND metric = %s "
            "AND bucket >= date_trunc('minute', %s::timestamptz) "
            "GROUP BY device_id",
            [tenant.id, metric, since],
        )
        return {device_id: value for device_id, value in cursor.fetchall()}
