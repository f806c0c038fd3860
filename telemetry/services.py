"""Writes about telemetry that are not ingestion: retention."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from iotplatform.tenancy.audit import audit_retention_apply
from iotplatform.tenancy.models import Tenant

from .timescale import is_hypertable

logger = logging.getLogger(__name__)

DELETE_BATCH = 50_000
# table -> its time column
RETAINED = {
    "telemetry_reading": "time",
    "telemetry_rollup_1m": "bucket",
    "telemetry_rollup_1h": "bucket",
}


def _delete_batched(table: str, column: str, tenant_id: int, cutoff: datetime) -> int:
    """Delete a tenant's rows older than cutoff, a batch per transaction (short locks)."""
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} t USING ("
                f"  SELECT device_id, metric, {column} FROM {table}"
                f"  WHERE tenant_id = %s AND {column} < %s LIMIT %s"
                f") old WHERE t.device_id = old.device_id AND t.metric = old.metric "
                f"AND t.{column} = old.{column}",
                [tenant_id, cutoff, DELETE_BATCH],
            )
            count = cursor.rowcount
        deleted += count
        if count < DELETE_BATCH:
            return deleted


def readings_retention_apply(*, now: datetime | None = None) -> dict[str, int]:
    """Delete readings (and their rollups) older than each tenant's retention period.

    On TimescaleDB, whole chunks older than the longest retention of any tenant are dropped
    with ``drop_chunks`` (instant, no bloat); what remains past a shorter retention is deleted
    in batches, which is also how plain PostgreSQL does all of it. Safe to run twice.
    """
    now = now or timezone.now()
    bound = settings.RETENTION_MAX_DAYS  # lowered since a tenant chose: the bound wins
    cutoffs = {
        tenant_id: now - timedelta(days=min(days, bound))
        for tenant_id, days in Tenant.objects.values_list("id", "retention_days")
    }
    if not cutoffs:
        return {}
    oldest_kept = min(cutoffs.values())
    result = {table: 0 for table in RETAINED}
    for table, column in RETAINED.items():
        if is_hypertable(connection, table):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM drop_chunks(%s, older_than => %s)", [table, oldest_kept]
                )
                (chunks,) = cursor.fetchone()
            logger.info("retention: dropped %s chunks of %s", chunks, table)
        for tenant_id, cutoff in cutoffs.items():
            result[table] += _delete_batched(table, column, tenant_id, cutoff)
    result["tenancy_auditevent"] = audit_retention_apply(now=now)  # the audit log goes alike
    return result
