"""Time-bucketed reads of telemetry: device series and fleet aggregates.

Pure SQL over the readings table or its rollups, chosen by the bucket width: a bucket that is a
whole number of hours reads the hourly rollups, of minutes the minute rollups, anything finer
the raw readings. The range is widened to whole buckets so every source gives the same numbers.

Buckets of whole days are the days of a time zone (``tz``; the API defaults it to the tenant's):
they start at its local midnight, weeks on Mondays, so a day across a daylight-saving change is
23 or 25 hours long. Shorter buckets are fixed lengths from midnight UTC, which are also the
local hours of every zone whose offset is whole hours.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from iotplatform.database import reader

from .timescale import bucket_expression

BUCKETS: dict[str, timedelta] = {
    "1s": timedelta(seconds=1),
    "5s": timedelta(seconds=5),
    "10s": timedelta(seconds=10),
    "30s": timedelta(seconds=30),
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "10m": timedelta(minutes=10),
    "15m": timedelta(minutes=15),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "2h": timedelta(hours=2),
    "3h": timedelta(hours=3),
    "6h": timedelta(hours=6),
    "12h": timedelta(hours=12),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
}
ORIGIN = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
DAY = timedelta(days=1)
MONDAY = date(2000, 1, 3)  # the origin of local days and weeks
# Local days in SQL: the wall-clock time of ``tz`` binned from a Monday, back to an instant.
LOCAL_BUCKET = (
    "(date_bin(%s::interval, {column} AT TIME ZONE %s, TIMESTAMP '2000-01-03') AT TIME ZONE %s)"
)


def bucket_name(width: timedelta) -> str:
    return next(name for name, value in BUCKETS.items() if value == width)


def is_days(width: timedelta) -> bool:
    return width % DAY == timedelta(0)


def bucket_sql(column: str, width: timedelta, tz: str) -> tuple[str, list[Any]]:
    """SQL bucketing ``column`` by ``width`` and the parameters it takes, in its order."""
    if is_days(width):
        return LOCAL_BUCKET.format(column=column), [width, tz, tz]
    return bucket_expression(reader(), column), [width]


def bucket_for(start: datetime, end: datetime, points: int) -> timedelta:
    """The finest standard bucket that gives at most ``points`` buckets over the range."""
    span = end - start
    for width in BUCKETS.values():
        if span / width <= points:
            return width
    return BUCKETS["7d"]


def bucket_floor(when: datetime, width: timedelta, tz: str = "UTC") -> datetime:
    """The start of the bucket ``when`` falls in."""
    if is_days(width):
        zone = ZoneInfo(tz)
        day = when.astimezone(zone).date()
        day -= timedelta(days=(day - MONDAY).days % width.days)
        return datetime.combine(day, time(0), tzinfo=zone)
    return ORIGIN + ((when - ORIGIN) // width) * width


def whole_hour_offsets(tz: str, start: datetime, end: datetime) -> bool:
    """Whether ``tz`` is a whole number of hours from UTC throughout the range (checked at its
    ends and at the middle of every winter and summer in it), so its days are whole hours."""
    zone = ZoneInfo(tz)
    times = [start, end]
    for year in range(start.year, end.year + 1):
        times += [datetime(year, 1, 15, tzinfo=zone), datetime(year, 7, 15, tzinfo=zone)]
    hour = timedelta(hours=1)
    return all(
        (offset := t.astimezone(zone).utcoffset()) is not None and offset % hour == timedelta(0)
        for t in times
    )


def source_for(
    width: timedelta, tz: str = "UTC", start: datetime | None = None, end: datetime | None = None
) -> tuple[str, str]:
    """(table, time column) that can answer buckets of this width exactly: local days from the
    hourly rollups unless the zone is half an hour off somewhere in the range."""
    if width % timedelta(hours=1) == timedelta(0):
        if is_days(width) and not whole_hour_offsets(tz, start or ORIGIN, end or ORIGIN):
            return "telemetry_rollup_1m", "bucket"
        return "telemetry_rollup_1h", "bucket"
    if width % timedelta(minutes=1) == timedelta(0):
        return "telemetry_rollup_1m", "bucket"
    return "telemetry_reading", "time"


@dataclass
class Series:
    bucket: timedelta
    source: str
    start: datetime
    end: datetime
    metrics: dict[str, dict[str, list[Any]]]
    tz: str = field(default="UTC")


def device_series(
    *,
    tenant_id: int,
    device_id: int,
    metrics: list[str],
    start: datetime,
    end: datetime,
    width: timedelta,
    tz: str = "UTC",
) -> Series:
    """min / avg / max / count per bucket of each metric of one device, columnar."""
    table, column = source_for(width, tz, start, end)
    start = bucket_floor(start, width, tz)
    bucket, bucket_params = bucket_sql(column, width, tz)
    if table == "telemetry_reading":
        aggregates = "count(*), min(value), avg(value), max(value)"
    else:
        aggregates = "sum(count), min(min), sum(sum) / sum(count), max(max)"
    sql = (
        f"SELECT metric, {bucket} AS b, {aggregates} FROM {table} "
        f"WHERE tenant_id = %s AND device_id = %s AND metric = ANY(%s) "
        f"AND {column} >= %s AND {column} < %s GROUP BY metric, b ORDER BY metric, b"
    )
    out: dict[str, dict[str, list[Any]]] = {
        m: {"t": [], "count": [], "min": [], "avg": [], "max": []} for m in metrics
    }
    with reader().cursor() as cursor:
        params: list[Any] = [*bucket_params, tenant_id, device_id, metrics, start, end]
        cursor.execute(sql, params)
        for metric, when, count, low, mean, high in cursor.fetchall():
            series = out[metric]
            series["t"].append(when)
            series["count"].append(int(count))
            series["min"].append(low)
            series["avg"].append(mean)
            series["max"].append(high)
    return Series(width, table, start, end, out, tz)


def fleet_series(
    *,
    tenant_id: int,
    metric: str,
    start: datetime,
    end: datetime,
    width: timedelta,
    device_type_id: int | None = None,
    tz: str = "UTC",
) -> Series:
    """Aggregates of one metric over all the tenant's devices (or one type) per bucket of whole
    minutes or hours, from the minute or hour rollups."""
    table, _ = source_for(width, tz, start, end)
    if table == "telemetry_reading":
        raise ValueError("fleet aggregates come in whole minutes")
    start = bucket_floor(start, width, tz)
    bucket, bucket_params = bucket_sql("r.bucket", width, tz)
    type_filter = ""
    params: list[Any] = [*bucket_params, tenant_id, metric, start, end]
    if device_type_id is not None:
        type_filter = "AND r.device_id IN (SELECT id FROM devices_device WHERE type_id = %s)"
        params.append(device_type_id)
    sql = (
        f"SELECT {bucket} AS b, sum(r.count), min(r.min), sum(r.sum) / sum(r.count), "
        f"max(r.max), count(DISTINCT r.device_id) FROM {table} r "
        f"WHERE r.tenant_id = %s AND r.metric = %s AND r.bucket >= %s AND r.bucket < %s "
        f"{type_filter} GROUP BY b ORDER BY b"
    )
    series: dict[str, list[Any]] = {
        "t": [],
        "count": [],
        "min": [],
        "avg": [],
        "max": [],
        "devices": [],
    }
    with reader().cursor() as cursor:
        cursor.execute(sql, params)
        for when, count, low, mean, high, devices in cursor.fetchall():
            series["t"].append(when)
            series["count"].append(int(count))
            series["min"].append(low)
            series["avg"].append(mean)
            series["max"].append(high)
            series["devices"].append(devices)
    return Series(width, table, start, end, {metric: series}, tz)
