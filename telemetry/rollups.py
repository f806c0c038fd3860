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
