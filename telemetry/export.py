"""CSV export of readings that streams any range without holding it in memory.

An asynchronous generator over a server-side cursor on its own connection: under the ASGI
server Django sends each chunk as it comes (a synchronous iterator would be read whole first).
Two layouts of the readings: ``wide``, one row per time and device with a column per metric,
and ``long``, one row per reading. Or, with a ``bucket``, the rollups: one row per device,
metric and bucket (count, min, avg, max), written by the database (``telemetry/bucket_rows.py``:
``COPY`` a time slice at a time); the reports' readings section is the same file. Times are
written on the clock of ``tz`` (default: the tenant's); day buckets are its days. Serials are
written through ``safe_cell`` (no spreadsheet formula can hide in one).
"""

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from django.http import Http404, StreamingHttpResponse
from django.utils import timezone

from devices import selectors as device_selectors
from iotplatform.database import conninfo, read_alias
from iotplatform.spreadsheet import safe_cell
from iotplatform.tenancy.models import Tenant
from telemetry.bucket_rows import EXPORT_BUCKETS, BucketRows
from telemetry.selectors import metrics_of

CHUNK_ROWS = 2000


def _format_time(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).isoformat().replace("+00:00", "Z")


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
        await psycopg.AsyncConnection.connect(
            conninfo(application_name="iot-export", alias=read_alias())
        ) as conn,
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
        buckets = BucketRows(
            tenant_id=tenant.id,
            devices={d: safe_cell(serial) for d, serial in devices.items()},
            metrics=metrics,
            start=params["start"],
            end=params["end"],
            width=EXPORT_BUCKETS[params["bucket"]],
            tz=tz,
        )
        body = buckets.stream()
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
