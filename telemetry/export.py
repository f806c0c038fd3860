"""CSV export of readings that streams any range without holding it in memory.

An asynchronous generator over a server-side cursor on its own connection: under the ASGI
server Django sends each chunk as it comes (a synchronous iterator would be read whole first).
Two layouts of the readings: ``wide``, one row per time and device with a column per metric,
and ``long``, one row per reading. Or, with a ``bucket``, the rollups: one row per device,
metric and bucket (count, min, avg, max), written by the database (``COPY``) device by device
in the order of the rollups' key, so a month of minutes for a thousand devices streams as fast
as it is read; the reports' readings section is the same file. Times are written on the clock of
``tz`` (default: the tenant's); day buckets are its days. Serials are written through
``safe_cell`` (no spreadsheet formula can hide in one).
"""

import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from django.db import connection, transaction
from django.http import Http404, StreamingHttpResponse
from django.utils import timezone

from devices import selectors as device_selectors
from iotplatform.database import conninfo
from iotplatform.spreadsheet import safe_cell
from iotplatform.tenancy.models import Tenant
from telemetry.queries import BUCKETS, bucket_floor, bucket_sql, source_for
from telemetry.selectors import metrics_of

CHUNK_ROWS = 2000
CHUNK_BYTES = 256 * 1024
EXPORT_BUCKETS = {name: BUCKETS[name] for name in ("1m", "15m", "1h", "1d")}
BUCKETED_HEADER = ["time", "device_id", "device", "metric", "count", "min", "avg", "max"]
# The session's clock is the export's while a device's rows are copied (its ``TimeZone``).
CLOCK = """'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM'"""
SET_TZ = "SELECT set_config('TimeZone', %s, true)"


def _format_time(when: datetime, zone: ZoneInfo | None = None) -> str:
    return (when.astimezone(zone) if zone else when).isoformat().replace("+00:00", "Z")


class DeviceBuckets:
    """One device's buckets as CSV rows written by the database: ``COPY`` in the order of the
    rollups' key (metric, then time), on the clock of ``tz``."""

    def __init__(
        self, *, tenant_id: int, metrics: Sequence[str], start: datetime, end: datetime,
        width: timedelta, tz: str, limit: int | None = None,
    ) -> None:  # fmt: skip
        table, column = source_for(width, tz, start, end)
        native = {"telemetry_rollup_1m": BUCKETS["1m"], "telemetry_rollup_1h": BUCKETS["1h"]}
        if native.get(table) == width:
            bucket, bucket_params = column, list[Any]()
            figures, grouping = "count, min, sum / count, max", ""
        else:
            bucket, bucket_params = bucket_sql(column, width, tz)
            figures = "sum(count), min(min), sum(sum) / sum(count), max(max)"
            grouping = "GROUP BY metric, b"
        self.sql = (
            f"COPY (SELECT to_char(b, {CLOCK}), %s::int8, %s::text, metric, {figures} "
            f"FROM (SELECT {bucket} AS b, * FROM {table} WHERE tenant_id = %s AND device_id = %s"
            f"{' AND metric = ANY(%s)' if metrics else ''} AND {column} >= %s AND {column} < %s)"
            f" r {grouping} ORDER BY metric, b{' LIMIT %s' if limit else ''}) "
            "TO STDOUT WITH (FORMAT csv)"
        )
        self.bucket_params = bucket_params
        self.tenant_id = tenant_id
        self.tail = [
            *([list(metrics)] if metrics else []),
            bucket_floor(start, width, tz),
            end,
            *([limit] if limit else []),
        ]
        self.tz = tz

    def params(self, device_id: int, label: str) -> list[Any]:
        return [device_id, label, *self.bucket_params, self.tenant_id, device_id, *self.tail]

    def copy_to(self, device_id: int, label: str, write: Callable[[bytes], Any]) -> int:
        """Write the device's rows in chunks through Django's connection; how many."""
        rows, chunk = 0, bytearray()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(SET_TZ, [self.tz])
            with cursor.cursor.copy(self.sql, self.params(device_id, label)) as copy:
                for row in copy:
                    chunk += row
                    rows += 1
                    if len(chunk) >= CHUNK_BYTES:
                        write(bytes(chunk))
                        chunk.clear()
            cursor.execute(SET_TZ, ["UTC"])
        if chunk:
            write(bytes(chunk))
        return rows


async def buckets_csv(
    *, tenant_id: int, devices: dict[int, str], buckets: DeviceBuckets
) -> AsyncIterator[bytes]:
    """The bucketed export: a header, then each device's rows, in chunks."""
    chunk = bytearray(",".join(BUCKETED_HEADER).encode() + b"\n")
    async with await psycopg.AsyncConnection.connect(
        conninfo(application_name="iot-export"), autocommit=True
    ) as conn:
        await conn.execute("SELECT set_config('TimeZone', %s, false)", [buckets.tz])
        cursor = conn.cursor()
        for device_id, serial in devices.items():
            async with cursor.copy(buckets.sql, buckets.params(device_id, safe_cell(serial))) as cp:
                async for row in cp:
                    chunk += row
                    if len(chunk) >= CHUNK_BYTES:
                        yield bytes(chunk)
                        chunk.clear()
    yield bytes(chunk)


async def readings_csv(
    *,
    tenant_id: int,
    devices: dict[int, str],
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    layout: str,
    tz: str = "UTC",
) -> AsyncIterator[bytes]:
    """CSV bytes of the readings of ``devices`` (id → serial) between start and end.

    ``metrics`` are the columns (wide) or the filter (both); readings of other metrics are not
    exported.
    """
    zone = ZoneInfo(tz)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    devices = {device_id: safe_cell(serial) for device_id, serial in devices.items()}
    if layout == "wide":
        out.writerow(["time", "device_id", "device", *map(safe_cell, metrics)])
    else:
        out.writerow(["time", "device_id", "device", "metric", "value"])
    column = {metric: i for i, metric in enumerate(metrics)}
    sql = (
        "SELECT time, device_id, metric, value FROM telemetry_reading "
        "WHERE tenant_id = %s AND device_id = ANY(%s) AND metric = ANY(%s) "
        "AND time >= %s AND time < %s ORDER BY time, device_id, metric"
    )
    params: list[Any] = [tenant_id, list(devices), list(metrics), start, end]
    async with (
        await psycopg.AsyncConnection.connect(conninfo(application_name="iot-export")) as conn,
        conn.cursor(name="readings_export") as cursor,
    ):
        cursor.itersize = CHUNK_ROWS
        await cursor.execute(sql, params)
        current: tuple[datetime, int] | None = None
        values: list[Any] = []
        written = 0
        async for when, device_id, metric, value in cursor:
            if layout == "wide":
                if (when, device_id) != current:
                    if current is not None:
                        out.writerow(
                            [
                                _format_time(current[0], zone),
                                current[1],
                                devices[current[1]],
                                *values,
                            ]
                        )
                    current = (when, device_id)
                    values = [""] * len(metrics)
                values[column[metric]] = repr(value)
            else:
                out.writerow(
                    [_format_time(when, zone), device_id, devices[device_id], metric, repr(value)]
                )
            written += 1
            if written % CHUNK_ROWS == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        if layout == "wide" and current is not None:
            out.writerow([_format_time(current[0], zone), current[1], devices[current[1]], *values])
    yield buffer.getvalue().encode()


def export_response(*, tenant: Tenant, params: dict[str, Any]) -> StreamingHttpResponse:
    """The streaming CSV download shared by the API and the pages."""
    devices = {
        d.id: d.serial
        for d in device_selectors.device_list(tenant=tenant).filter(id__in=params["devices"])
    }
    missing = set(params["devices"]) - set(devices)
    if missing:  # another tenant's device and a missing one look the same
        raise Http404(f"No device {sorted(missing)[0]}.")
    metrics = params.get("metrics") or metrics_of(
        tenant=tenant, devices=device_selectors.device_list(tenant=tenant).filter(id__in=devices)
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    tz = params.get("tz") or tenant.timezone
    body: AsyncIterator[bytes]
    if params.get("bucket"):
        buckets = DeviceBuckets(
            tenant_id=tenant.id,
            metrics=metrics,
            start=params["start"],
            end=params["end"],
            width=EXPORT_BUCKETS[params["bucket"]],
            tz=tz,
        )
        body = buckets_csv(tenant_id=tenant.id, devices=devices, buckets=buckets)
    else:
        body = readings_csv(
            tenant_id=tenant.id,
            devices=devices,
            metrics=metrics,
            start=params["start"],
            end=params["end"],
            layout=params["layout"],
            tz=tz,
        )
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="readings-{stamp}.csv"'
    return response
