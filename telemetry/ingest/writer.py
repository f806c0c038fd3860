"""Write readings by binary COPY, idempotent on (device, metric, time).

The common case, new readings, goes straight into the table by binary COPY under a savepoint.
When a unique violation says a resend arrived, the savepoint is rolled back and the same rows go
through a temporary staging table and ``INSERT … ON CONFLICT DO NOTHING``, which stores only what
is new. Either way one transaction: a failed write stores nothing. The latest value of each
(device, metric) is upserted in the same transaction.

Rows are ``(time, tenant_id, device_id, metric, value)``. There is a synchronous variant for
Django code (imports, management commands) and an asynchronous one for the ASGI ingest app.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors

Row = tuple[datetime, int, int, str, float]

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

Key = tuple[int, str, datetime]


def latest_params(rows: Iterable[Row]) -> list[list[Any]] | None:
    """Parameters of LATEST_UPSERT: the newest row of each (device, metric)."""
    newest: dict[tuple[int, str], Row] = {}
    for row in rows:
        key = (row[2], row[3])
        current = newest.get(key)
        if current is None or row[0] > current[0]:
            newest[key] = row
    if not newest:
        return None
    values = list(newest.values())
    return [
        [r[2] for r in values],
        [r[3] for r in values],
        [r[1] for r in values],
        [r[0] for r in values],
        [r[4] for r in values],
    ]


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
        params = latest_params(
            rows if stored is None else (r for r in rows if (r[2], r[3], r[0]) in stored)
        )
        if params:
            cur.execute(LATEST_UPSERT, params)
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
        params = latest_params(
            rows if stored is None else (r for r in rows if (r[2], r[3], r[0]) in stored)
        )
        if params:
            await cur.execute(LATEST_UPSERT, params)
    return stored
