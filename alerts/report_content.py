"""What a report holds, as CSV files: per device and metric over the period (count, min, mean,
max from the minute rollups; p95 and the last reading from the readings; minutes with a reading
past the device's warning and critical limits from the minute rollups), the alarms of the
period, its anomaly spells, each device's health and RUL at its end, and the readings bucketed
(the bucketed export's file). Everything is read through the schedule's own tenant.

Each file is written as it is produced into whatever ``opener`` gives (a zip's member for a run,
memory for a preview): the readings device by device from the database's ``COPY``, the other
files row by row, so a month of minutes for a thousand devices takes no more memory than a day.
"""

import csv
import io
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Q, QuerySet

from analytics.insights import ANOMALIES_HEADER, anomaly_row, number
from analytics.models import AnomalyEvent
from devices.models import Device
from iotplatform.spreadsheet import safe_cell
from telemetry.bucket_rows import EXPORT_BUCKETS, HEADER, BucketRows
from telemetry.models import LatestReading

from .models import Alarm, DeviceScope, ReportSchedule, ReportSection

Opener = Callable[[str], AbstractContextManager[IO[bytes]]]

SUMMARY_SQL = """
WITH limits (device_id, metric, warn_low, warn_high, alarm_low, alarm_high) AS (
    SELECT * FROM unnest(%(ids)s::int8[], %(metrics)s::text[], %(wl)s::float8[],
                         %(wh)s::float8[], %(al)s::float8[], %(ah)s::float8[])
)
SELECT r.device_id, r.metric, sum(r.count)::int8, min(r.min), sum(r.sum) / sum(r.count),
       max(r.max),
       count(*) FILTER (WHERE r.max > l.warn_high OR r.min < l.warn_low),
       count(*) FILTER (WHERE r.max > l.alarm_high OR r.min < l.alarm_low)
FROM telemetry_rollup_1m r JOIN limits l USING (device_id, metric)
WHERE r.tenant_id = %(tenant)s AND r.bucket >= %(start)s AND r.bucket < %(end)s
GROUP BY 1, 2
"""
TAIL_SQL = """
SELECT device_id, metric, percentile_cont(0.95) WITHIN GROUP (ORDER BY value),
       (array_agg(value ORDER BY time DESC))[1]
FROM telemetry_reading
WHERE tenant_id = %(tenant)s AND device_id = ANY(%(devices)s) AND metric = ANY(%(metrics)s)
  AND time >= %(start)s AND time < %(end)s
GROUP BY 1, 2
"""
SUMMARY_HEADER = [
    "device_id", "device", "serial", "type", "metric", "unit", "count", "min", "mean", "max",
    "p95", "last", "minutes_past_warning", "minutes_past_critical",
]  # fmt: skip
ALARMS_HEADER = [
    "alarm_id", "device", "rule", "severity", "status", "opened_at", "first_value", "last_value",
    "occurrences", "acknowledged_at", "acknowledged_by", "cleared_at", "cleared_by",
]  # fmt: skip


SCORES_SQL = """
SELECT DISTINCT ON (device_id, metric) device_id, metric, value
FROM telemetry_reading
WHERE tenant_id = %(tenant)s AND device_id = ANY(%(devices)s) AND metric = ANY(%(metrics)s)
  AND time >= %(start)s AND time < %(end)s
ORDER BY device_id, metric, time DESC
"""
SCORE_METRICS = {"_health": "health", "_rul_hours": "rul_hours", "_rul_low": "rul_low",
                 "_rul_high": "rul_high"}  # fmt: skip
SCORES_HEADER = ["device_id", "device", "health", "rul_hours", "rul_low", "rul_high"]


@dataclass
class ReportFile:
    name: str
    rows: int
    bytes: int


class CsvOut:
    """A report file being written: CSV rows, or rows the database wrote; counted."""

    FLUSH = 256 * 1024

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.rows = 0
        self.bytes = 0
        self.text = io.StringIO()
        self.writer = csv.writer(self.text, lineterminator="\n")

    def header(self, names: Iterable[str]) -> None:
        self.writer.writerow(names)

    def row(self, values: Iterable[Any]) -> None:
        self.writer.writerow(values)
        self.rows += 1
        if self.text.tell() >= self.FLUSH:
            self.flush()

    def write(self, data: bytes) -> None:
        self.flush()
        self.raw.write(data)
        self.bytes += len(data)

    def flush(self) -> None:
        data = self.text.getvalue().encode()
        self.text.seek(0)
        self.text.truncate()
        self.raw.write(data)
        self.bytes += len(data)


def scoped_devices(schedule: ReportSchedule, listed: list[int] | None = None) -> QuerySet[Device]:
    """The schedule's devices; ``listed``: the ids of a list scope's devices (a schedule not
    saved yet, previewed, has no list of its own)."""
    devices = Device.objects.filter(tenant_id=schedule.tenant_id).select_related("type")
    if schedule.scope == DeviceScope.TYPE:
        devices = devices.filter(type_id=schedule.device_type_id)
    elif schedule.scope == DeviceScope.TAG:
        devices = devices.filter(tags__contains=[schedule.tag])
    elif schedule.scope == DeviceScope.LIST:
        ids = listed if listed is not None else list(schedule.devices.values_list("pk", flat=True))
        devices = devices.filter(pk__in=ids)
    return devices.order_by("name", "id")


@dataclass
class Period:
    """What every section reads: the schedule, its period and devices, the tenant's zone, and
    the rows of readings enough (a preview) if any."""

    schedule: ReportSchedule
    start: datetime
    end: datetime
    devices: list[Device]
    tz: str
    limit: int | None = None

    @property
    def tenant_id(self) -> int:
        return self.schedule.tenant_id


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def summary_file(out: CsvOut, p: Period) -> None:
    wanted = set(p.schedule.metrics)
    pairs: list[tuple[Device, str, dict[str, Any]]] = [
        (d, metric, spec)
        for d in p.devices
        for metric, spec in sorted(d.metric_definitions().items())
        if not wanted or metric in wanted
    ]
    params: dict[str, Any] = {
        "tenant": p.tenant_id,
        "start": p.start,
        "end": p.end,
        "ids": [d.pk for d, _, _ in pairs],
        "metrics": [m for _, m, _ in pairs],
        **{
            key: [_float(spec.get(name)) for _, _, spec in pairs]
            for key, name in (
                ("wl", "warn_low"), ("wh", "warn_high"), ("al", "alarm_low"), ("ah", "alarm_high")
            )
        },
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(SUMMARY_SQL, params)
        figures = {(r[0], r[1]): r[2:] for r in cursor.fetchall()}
        cursor.execute(
            TAIL_SQL,
            {
                **params,
                "devices": sorted({d.pk for d in p.devices}),
                "metrics": sorted({m for _, m, _ in pairs}),
            },
        )
        tails = {(r[0], r[1]): r[2:] for r in cursor.fetchall()}
    out.header(SUMMARY_HEADER)
    for device, metric, spec in pairs:
        found = figures.get((device.pk, metric))
        if found is None:
            continue  # nothing reported in the period
        count, low, mean, high, warn, critical = found
        p95, last = tails.get((device.pk, metric), (None, None))
        out.row([
            device.pk, safe_cell(device.name), safe_cell(device.serial), device.type.name, metric,
            spec.get("unit", ""), count, number(low), number(mean), number(high), number(p95),
            number(last), warn, critical,
        ])  # fmt: skip


def alarms_file(out: CsvOut, p: Period) -> None:
    """The alarms of the period: opened in it, or opened before and still active in it."""
    zone = ZoneInfo(p.tz)
    alarms = (
        Alarm.objects.filter(tenant_id=p.tenant_id, device__in=p.devices, opened_at__lt=p.end)
        .filter(Q(opened_at__gte=p.start) | Q(cleared_at__isnull=True) | Q(cleared_at__gte=p.start))
        .select_related("device", "rule", "acknowledged_by", "cleared_by")
        .order_by("opened_at", "id")
    )

    def local(when: datetime | None) -> str:
        return "" if when is None else when.astimezone(zone).isoformat()

    out.header(ALARMS_HEADER)
    for a in alarms.iterator(chunk_size=2000):
        out.row([
            a.pk, safe_cell(a.device.name), safe_cell(a.rule.name), a.severity, a.status,
            local(a.opened_at),
            number(a.first_value), number(a.last_value), a.occurrences,
            local(a.acknowledged_at), a.acknowledged_by.get_username() if a.acknowledged_by else "",
            local(a.cleared_at), a.cleared_by.get_username() if a.cleared_by else "",
        ])  # fmt: skip


def anomalies_file(out: CsvOut, p: Period) -> None:
    """The anomaly spells of the period: begun in it, or begun before and not over by its
    start."""
    zone = ZoneInfo(p.tz)
    events = (
        AnomalyEvent.objects.filter(
            tenant_id=p.tenant_id, device__in=p.devices, started_at__lt=p.end
        )
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=p.start))
        .select_related("device")
        .order_by("started_at", "id")
    )
    out.header(ANOMALIES_HEADER)
    for e in events.iterator(chunk_size=2000):
        out.row(anomaly_row(e, zone))


def health_file(out: CsvOut, p: Period) -> None:
    """Each device's health and RUL at the end of the period: their last scores in it."""
    with connection.cursor() as cursor:
        cursor.execute(
            SCORES_SQL,
            {"tenant": p.tenant_id, "devices": [d.pk for d in p.devices],
             "metrics": list(SCORE_METRICS), "start": p.start, "end": p.end},
        )  # fmt: skip
        scores: dict[int, dict[str, float]] = {}
        for device_id, metric, value in cursor.fetchall():
            scores.setdefault(device_id, {})[SCORE_METRICS[metric]] = value
    out.header(SCORES_HEADER)
    for device in p.devices:
        if device.pk not in scores:
            continue
        found = scores[device.pk]
        out.row(
            [device.pk, safe_cell(device.name), *(number(found.get(c)) for c in SCORES_HEADER[2:])]
        )


def readings_file(out: CsvOut, p: Period) -> None:
    """Per device, metric and bucket of the schedule's width: count, min, avg, max — the
    bucketed export's rows, the database writing them device by device. Every metric but the
    reserved scores (``_health``, …) when the schedule names none."""
    metrics = list(p.schedule.metrics) or sorted(
        {m for d in p.devices for m in d.type.metrics if not m.startswith("_")}
        | set(_reported_metrics(p.tenant_id, p.devices))
    )
    out.header(HEADER)
    if not metrics or not p.devices:
        return
    out.rows += BucketRows(
        tenant_id=p.tenant_id, devices={d.pk: safe_cell(d.serial) for d in p.devices},
        metrics=metrics, start=p.start, end=p.end,
        width=EXPORT_BUCKETS[p.schedule.bucket or "1h"], tz=p.tz, limit=p.limit,
    ).copy_to(out.write)  # fmt: skip


def _reported_metrics(tenant_id: int, devices: list[Device]) -> list[str]:
    return list(
        LatestReading.objects.filter(tenant_id=tenant_id, device__in=devices)
        .exclude(metric__startswith="_")
        .values_list("metric", flat=True)
        .distinct()
    )


def report_write(
    opener: Opener,
    schedule: ReportSchedule,
    start: datetime,
    end: datetime,
    tz: str,
    listed: list[int] | None = None,
    limit: int | None = None,
) -> list[ReportFile]:
    """Write the schedule's sections for the period, each file into what ``opener(name)``
    opens; ``limit``: rows of readings enough (a preview)."""
    period = Period(schedule, start, end, list(scoped_devices(schedule, listed)), tz, limit)
    sections = {
        ReportSection.SUMMARY: [("summary.csv", summary_file)],
        ReportSection.ALARMS: [("alarms.csv", alarms_file)],
        ReportSection.ANOMALIES: [("anomalies.csv", anomalies_file), ("health.csv", health_file)],
        ReportSection.READINGS: [("readings.csv", readings_file)],
    }
    writers = [w for section, ws in sections.items() if section in schedule.sections for w in ws]
    files = []
    for name, write in writers:
        with opener(name) as raw:
            out = CsvOut(raw)
            write(out, period)
            out.flush()
        files.append(ReportFile(name, out.rows, out.bytes))
    return files
