"""Rebuilding the rollups from the raw readings: after an upgrade, or as a repair."""

from datetime import datetime
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

REBUILD = """
INSERT INTO {table} (device_id, metric, bucket, tenant_id, count, sum, min, max)
SELECT device_id, metric, date_trunc('{unit}', time, 'UTC'), min(tenant_id), count(*), sum(value),
       min(value), max(value)
FROM telemetry_reading
WHERE time >= date_trunc('{unit}', %s::timestamptz, 'UTC') AND (%s::int8 IS NULL OR tenant_id = %s)
GROUP BY 1, 2, 3
ON CONFLICT (device_id, metric, bucket) DO UPDATE
SET count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max
"""


def rollups_rebuild(
    connection: BaseDatabaseWrapper, *, since: datetime, tenant_id: int | None = None
) -> dict[str, int]:
    """Recompute minute and hour rollups of readings from ``since`` (whole buckets)."""
    counts: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table, unit in (("telemetry_rollup_1m", "minute"), ("telemetry_rollup_1h", "hour")):
            params: list[Any] = [since, tenant_id, tenant_id]
            cursor.execute(
                f"DELETE FROM {table} WHERE bucket >= date_trunc('{unit}', %s::timestamptz, 'UTC') "
                "AND (%s::int8 IS NULL OR tenant_id = %s)",
                params,
            )
            cursor.execute(REBUILD.format(table=table, unit=unit), params)
            counts[table] = cursor.rowcount
    return counts


def extremes_repair(connection: BaseDatabaseWrapper, *, limit: float = 1e15) -> int:
    """Remove readings no longer accepted (beyond ±``limit``, NaN or infinite: stored before
    values were bounded) and recompute what they were part of — the rollups of their tenants
    from the earliest such reading, and the latest values of their devices. Returns how many
    were removed. Without it, one 1e308 stored twice overflows every sum that reads it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM telemetry_reading WHERE NOT (value BETWEEN %s AND %s) "
            "RETURNING tenant_id, device_id, metric, time",
            [-limit, limit],
        )
        removed = cursor.fetchall()
        if not removed:
            return 0
        since: dict[int, datetime] = {}
        for tenant_id, _, _, when in removed:
            since[tenant_id] = min(since.get(tenant_id, when), when)
        series = sorted({(device_id, metric) for _, device_id, metric, _ in removed})
        cursor.execute(
            "DELETE FROM telemetry_latest l USING unnest(%s::int8[], %s::text[]) AS s(d, m) "
            "WHERE l.device_id = s.d AND l.metric = s.m",
            [[d for d, _ in series], [m for _, m in series]],
        )
        cursor.execute(
            "INSERT INTO telemetry_latest (device_id, metric, tenant_id, time, value) "
            "SELECT DISTINCT ON (r.device_id, r.metric) r.device_id, r.metric, r.tenant_id, "
            "r.time, r.value FROM telemetry_reading r "
            "JOIN unnest(%s::int8[], %s::text[]) AS s(d, m) "
            "ON r.device_id = s.d AND r.metric = s.m "
            "ORDER BY r.device_id, r.metric, r.time DESC",
            [[d for d, _ in series], [m for _, m in series]],
        )
    for tenant_id, when in since.items():
        rollups_rebuild(connection, since=when, tenant_id=tenant_id)
    return len(removed)
