"""The rollups per device, metric and bucket as CSV rows, written by the database: the bucketed
export and a report's readings section are this one file.

``COPY`` writes the rows (time on the clock of ``tz``, then count, min, avg, max), one time slice
at a time in time order: the rollups are stored as they were ingested, every device's minute
beside the others', so a slice of most of a tenant's devices is read by its time range from
neighbouring pages, joined to the devices' labels by a hash and sorted in memory; one device
at a time (an index probe per device) would touch a page per row, which is only worth it for a
few devices of many. A slice holds about ``SLICE_ROWS`` rows, so memory on both sides stays flat
however long the range.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from django.db import connection, transaction

from iotplatform.database import conninfo, read_alias

from .queries import BUCKETS, DAY, bucket_floor, bucket_sql, is_days, source_for

EXPORT_BUCKETS = {name: BUCKETS[name] for name in ("1m", "15m", "1h", "1d")}
HEADER = ["time", "device_id", "device", "metric", "count", "min", "avg", "max"]
SLICE_ROWS = 100_000
CHUNK_BYTES = 256 * 1024
# The session's clock is the file's while the rows are copied (its ``TimeZone``), and the
# planner's choices those of a bulk read: a slice sorted in memory, the labels joined by hash.
CLOCK = """'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM'"""
BULK = {"work_mem": "64MB", "enable_nestloop": "off"}
FEW_SHARE = 4  # devices are "few" below a quarter of the tenant's


class BucketRows:
    """The buckets of ``devices`` (id → the label written, already made safe) over a range."""

    def __init__(
        self, *, tenant_id: int, devices: dict[int, str], metrics: list[str], start: datetime,
        end: datetime, width: timedelta, tz: str, limit: int | None = None,
    ) -> None:  # fmt: skip
        # A small share of the tenant's devices is probed by its key; more, the slice scanned.
        few = len(devices) * FEW_SHARE < _devices_of(tenant_id)
        table, column = source_for(width, tz, start, end)
        native = {"telemetry_rollup_1m": BUCKETS["1m"], "telemetry_rollup_1h": BUCKETS["1h"]}
        if native.get(table) == width:
            bucket, self.bucket_params = column, list[Any]()
            figures, grouping = "r.count, r.min, r.sum / r.count, r.max", ""
        else:
            bucket, self.bucket_params = bucket_sql(column, width, tz)
            figures = "sum(r.count), min(r.min), sum(r.sum) / sum(r.count), max(r.max)"
            grouping = "GROUP BY r.b, r.device_id, d.label, r.metric"
        self.sql = (
            f"COPY (SELECT to_char(r.b, {CLOCK}), r.device_id, d.label, r.metric, {figures} "
            f"FROM (SELECT {bucket} AS b, * FROM {table} WHERE tenant_id = %s "
            f"{'AND device_id = ANY(%s) ' if few else ''}"
            f"{'AND metric = ANY(%s) ' if metrics else ''}"
            f"AND {column} >= %s AND {column} < %s) r "
            "JOIN unnest(%s::int8[], %s::text[]) AS d(id, label) ON d.id = r.device_id "
            # Metric keys are ASCII: byte order, not the locale's (a quarter of the time).
            f'{grouping} ORDER BY r.b, r.device_id, r.metric COLLATE "C"'
            f"{' LIMIT %s' if limit else ''}) "
            "TO STDOUT WITH (FORMAT csv)"
        )
        self.tenant_id, self.devices, self.metrics = tenant_id, devices, metrics
        self.start, self.end, self.width, self.tz = start, end, width, tz
        self.limit, self.few = limit, few

    def slices(self) -> Iterator[tuple[datetime, datetime]]:
        """Whole buckets, about ``SLICE_ROWS`` rows each, from the first bucket to the end."""
        per_bucket = max(1, len(self.devices) * max(1, len(self.metrics)))
        buckets = max(1, SLICE_ROWS // per_bucket)
        at = bucket_floor(self.start, self.width, self.tz)
        while at < self.end:
            if is_days(self.width):  # local days: step the calendar, not 24 hours
                zone = ZoneInfo(self.tz)
                day = at.astimezone(zone).date() + buckets * self.width.days * DAY
                upto = datetime.combine(day, time(0), tzinfo=zone)
            else:
                upto = at + buckets * self.width
            yield at, min(upto, self.end)
            at = upto

    def params(self, start: datetime, end: datetime) -> list[Any]:
        return [
            *self.bucket_params, self.tenant_id, *([list(self.devices)] if self.few else []),
            *([self.metrics] if self.metrics else []), start, end,
            list(self.devices), list(self.devices.values()),
            *([self.limit] if self.limit else []),
        ]  # fmt: skip

    def copy_to(self, write: Callable[[bytes], Any]) -> int:
        """Write the rows in chunks through Django's connection (its transaction: what a test
        or a report's worker sees); how many were written."""
        rows, chunk = 0, bytearray()
        with transaction.atomic(), connection.cursor() as cursor, _local(cursor, self.tz):
            for start, end in self.slices():
                with cursor.cursor.copy(self.sql, self.params(start, end)) as copy:
                    for row in copy:
                        chunk += row
                        rows += 1
                        if len(chunk) >= CHUNK_BYTES:
                            write(bytes(chunk))
                            chunk.clear()
                if self.limit is not None and rows >= self.limit:
                    break
        if chunk:
            write(bytes(chunk))
        return rows

    async def stream(self) -> AsyncIterator[bytes]:
        """The header and the rows in chunks, on a connection of its own (the export: under the
        ASGI server each chunk is sent as it comes)."""
        chunk = bytearray(",".join(HEADER).encode() + b"\n")
        async with await psycopg.AsyncConnection.connect(
            conninfo(application_name="iot-export", alias=read_alias()), autocommit=True
        ) as conn:
            for name, value in {"TimeZone": self.tz, **BULK}.items():
                await conn.execute("SELECT set_config(%s, %s, false)", [name, value])
            cursor = conn.cursor()
            for start, end in self.slices():
                async with cursor.copy(self.sql, self.params(start, end)) as copy:
                    async for row in copy:
                        chunk += row
                        if len(chunk) >= CHUNK_BYTES:
                            yield bytes(chunk)
                            chunk.clear()
        yield bytes(chunk)


def _devices_of(tenant_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM devices_device WHERE tenant_id = %s", [tenant_id])
        return int(cursor.fetchone()[0])


@contextmanager
def _local(cursor: Any, tz: str) -> Iterator[None]:
    """The clock and the bulk-read settings for the transaction, put back after (a test's
    transaction goes on)."""
    wanted = {"TimeZone": tz, **BULK}
    cursor.execute(
        "SELECT " + ", ".join(["current_setting(%s)"] * len(wanted)), list(wanted)
    )  # fmt: skip
    before = dict(zip(wanted, cursor.fetchone(), strict=True))
    for name, value in wanted.items():
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
    yield
    for name, value in before.items():
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
