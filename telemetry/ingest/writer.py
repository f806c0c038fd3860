"""Write readings by binary COPY, idempotent on (device, metric, time).

The common case, new readings, goes straight into the table by binary COPY under a savepoint.
When a unique violation says a resend arrived, the savepoint is rolled back and the same rows go
through a temporary staging table and ``INSERT … ON CONFLICT DO NOTHING``, which stores only what
is new. Either way one transaction: a failed write stores nothing. In the same transaction the
latest value of each (device, metric) is upserted, and the stored rows are added to the minute
and hour rollups (aggregated here first, so a batch costs one upsert per table).

Each reading is a :data:`Row` tuple. There is a synchronous variant for Django code (imports,
management commands) and an asynchronous one for the ingest pipeline.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors

# One reading in the table's column order (COPY writes it as it is):
# (time, tenant_id, device_id, metric, value); the positions are named below. A plain tuple on
# purpose: ingestion builds ten thousand a batch, and a NamedTuple both costs more to build and
# stays tracked by the garbage collector (plain tuples of atoms are untracked): both showed in
# bench/ingest.py's batch throughput.
Row = tuple[datetime, int, int, str, float]
TIME: Final = 0
TENANT: Final = 1
DEVICE: Final = 2
METRIC: Final = 3
VALUE: Final = 4

# What makes a reading unique: (device, metric, time).
Key = tuple[int, str, datetime]


def key(row: Row) -> Key:
    return (row[DEVICE], row[METRIC], row[TIME])


COLUMNS = "(time, tenant_id, device_id, metric, value)"
COPY_TYPES = ["timestamptz", "int8", "int8", "text", "float8"]
COPY_DIRECT = f"COPY telemetry_reading {COLUMNS} FROM STDIN (FORMAT BINARY)"
STAGING_CREATE = (
    "CREATE TEMP TABLE IF NOT EXISTS reading_staging "
    "(time timestamptz, tenant_id int8, device_id int8, metric text, value float8) "
    "ON COMMIT DELETE ROWS"
)
COPY_STAGING = f"COPY reading_staging {COLUMNS} FROM STDIN (FORMAT BINARY)"
INSERT_FROM_STAGING = (
    f"INSERT INTO telemetry_reading {COLUMNS} "
    f"SELECT time, tenant_id, device_id, metric, value FROM reading_staging "
    "ON CONFLICT DO NOTHING RETURNING device_id, metric, time"
)
LATEST_UPSERT = """
INSERT INTO telemetry_latest (device_id, metric, tenant_id, time, value)
SELECT * FROM unnest(%s::int8[], %s::text[], %s::int8[], %s::timestamptz[], %s::float8[])
ON CONFLICT (device_id, metric) DO UPDATE
SET time = EXCLUDED.time, value = EXCLUDED.value
WHERE telemetry_latest.time < EXCLUDED.time
"""

ROLLUP_UPSERT = """
INSERT INTO {table} AS r (device_id, metric, bucket, tenant_id, count, sum, min, max)
SELECT * FROM unnest(%s::int8[], %s::text[], %s::timestamptz[], %s::int8[], %s::int8[],
                     %s::float8[], %s::float8[], %s::float8[])
ON CONFLICT (device_id, metric, bucket) DO UPDATE
SET count = r.count + EXCLUDED.count, sum = r.sum + EXCLUDED.sum,
    min = LEAST(r.min, EXCLUDED.min), max = GREATEST(r.max, EXCLUDED.max)
"""
ROLLUP_MINUTE = ROLLUP_UPSERT.format(table="telemetry_rollup_1m")
ROLLUP_HOUR = ROLLUP_UPSERT.format(table="telemetry_rollup_1h")

# (device, metric, bucket) -> [tenant, count, sum, min, max]
Aggregates = dict[tuple[int, str, datetime], list[Any]]


def latest_params(rows: Iterable[Row]) -> list[list[Any]] | None:
    """Parameters of LATEST_UPSERT: the newest row of each (device, metric), sorted by
    (device, metric) so concurrent writers lock the rows in one order (unsorted, two ingest
    processes writing the same devices deadlocked)."""
    newest: dict[tuple[int, str], Row] = {}
    for row in rows:
        series = (row[DEVICE], row[METRIC])
        current = newest.get(series)
        if current is None or row[TIME] > current[TIME]:
            newest[series] = row
    if not newest:
        return None
    values = [newest[series] for series in sorted(newest)]
    return [
        [r[DEVICE] for r in values],
        [r[METRIC] for r in values],
        [r[TENANT] for r in values],
        [r[TIME] for r in values],
        [r[VALUE] for r in values],
    ]


def rollup_aggregate(rows: Iterable[Row]) -> tuple[Aggregates, Aggregates]:
    """Minute and hour aggregates of rows (the hour ones from the minute ones: fewer steps)."""
    minutes: Aggregates = {}
    for when, tenant_id, device_id, metric, value in rows:
        key = (device_id, metric, when.replace(second=0, microsecond=0))
        agg = minutes.get(key)
        if agg is None:
            minutes[key] = [tenant_id, 1, value, value, value]
        else:
            agg[1] += 1
            agg[2] += value
            if value < agg[3]:
                agg[3] = value
            elif value > agg[4]:
                agg[4] = value
    hours: Aggregates = {}
    for (device_id, metric, minute), (tenant_id, count, total, low, high) in minutes.items():
        key = (device_id, metric, minute.replace(minute=0))
        agg = hours.get(key)
        if agg is None:
            hours[key] = [tenant_id, count, total, low, high]
        else:
            agg[1] += count
            agg[2] += total
            agg[3] = min(agg[3], low)
            agg[4] = max(agg[4], high)
    return minutes, hours


def rollup_params(aggregates: Aggregates) -> list[list[Any]]:
    """Parameters of a rollup upsert, sorted by key so concurrent writers lock in one order."""
    keys = sorted(aggregates)
    return [
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [aggregates[k][0] for k in keys],
        [aggregates[k][1] for k in keys],
        [aggregates[k][2] for k in keys],
        [aggregates[k][3] for k in keys],
        [aggregates[k][4] for k in keys],
    ]


DERIVED_UPSERT = (
    # One round trip for the three derived tables (data-modifying CTEs).
    f"WITH latest AS ({LATEST_UPSERT}), minute AS ({ROLLUP_MINUTE}) {ROLLUP_HOUR}"
)


def _derived_statements(rows: Sequence[Row], stored: "set[Key] | None") -> list[tuple[str, Any]]:
    """The latest-value and rollup upserts for the rows that were stored."""
    kept = rows if stored is None else [r for r in rows if key(r) in stored]
    params = latest_params(kept)
    if not params:
        return []
    minutes, hours = rollup_aggregate(kept)
    return [(DERIVED_UPSERT, [*params, *rollup_params(minutes), *rollup_params(hours)])]


def write_sync(conn: psycopg.Connection[Any], rows: Sequence[Row]) -> set[Key] | None:
    """Write rows inside the caller's transaction on a psycopg connection.

    Returns None when every row was new, else the keys that were stored (the rest were
    already there).
    """
    if not rows:
        return None
    stored: set[Key] | None = None
    with conn.cursor() as cur:
        try:
            with conn.transaction(), cur.copy(COPY_DIRECT) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
        except pg_errors.UniqueViolation:
            cur.execute(STAGING_CREATE)
            with cur.copy(COPY_STAGING) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
            cur.execute(INSERT_FROM_STAGING)
            stored = {(d, m, t) for d, m, t in cur.fetchall()}
            cur.execute("TRUNCATE reading_staging")
        for sql, params in _derived_statements(rows, stored):
            cur.execute(sql, params)
    return stored


async def write_async(conn: psycopg.AsyncConnection[Any], rows: Sequence[Row]) -> set[Key] | None:
    """The asynchronous twin of :func:`write_sync` (same SQL, same result)."""
    if not rows:
        return None
    stored: set[Key] | None = None
    async with conn.cursor() as cur:
        try:
            async with conn.transaction(), cur.copy(COPY_DIRECT) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows:
                    await copy.write_row(row)
        except pg_errors.UniqueViolation:
            await cur.execute(STAGING_CREATE)
            async with cur.copy(COPY_STAGING) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows:
                    await copy.write_row(row)
            await cur.execute(INSERT_FROM_STAGING)
            stored = {(d, m, t) for d, m, t in await cur.fetchall()}
            await cur.execute("TRUNCATE reading_staging")
        for sql, params in _derived_statements(rows, stored):
            await cur.execute(sql, params)
    return stored
