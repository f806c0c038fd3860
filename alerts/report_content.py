"""What a report holds, as CSV files: per device and metric over the period (count, min, mean,
max from the minute rollups; p95 and the last reading from the readings; minutes with a reading
past the device's warning and critical limits from the minute rollups), the alarms of the
period, its anomaly spells and each device's health and RUL at its end. Everything is read
through the schedule's own tenant."""

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Q, QuerySet

from analytics.models import AnomalyEvent
from devices.models import Device

from .models import Alarm, DeviceScope, ReportSchedule, ReportSection

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
ANOMALIES_HEADER = [
    "event_id", "device", "detector", "started_at", "ended_at", "flagged_minutes", "peak_score",
    "drivers",
]  # fmt: skip
SCORES_HEADER = ["device_id", "device", "health", "rul_hours", "rul_low", "rul_high"]


@dataclass
class ReportFile:
    name: str
    rows: int
    data: bytes


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


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _number(value: Any) -> str:
    return "" if value is None else f"{float(value):.6g}"


def summary_file(
    schedule: ReportSchedule, start: datetime, end: datetime, devices: list[Device]
) -> ReportFile:
    wanted = set(schedule.metrics)
    pairs: list[tuple[Device, str, dict[str, Any]]] = [
        (d, metric, spec)
        for d in devices
        for metric, spec in sorted(d.metric_definitions().items())
        if not wanted or metric in wanted
    ]
    params: dict[str, Any] = {
        "tenant": schedule.tenant_id,
        "start": start,
        "end": end,
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
                "devices": sorted({d.pk for d in devices}),
                "metrics": sorted({m for _, m, _ in pairs}),
            },
        )
        tails = {(r[0], r[1]): r[2:] for r in cursor.fetchall()}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SUMMARY_HEADER)
    rows = 0
    for device, metric, spec in pairs:
        found = figures.get((device.pk, metric))
        if found is None:
            continue  # nothing reported in the period
        count, low, mean, high, warn, critical = found
        p95, last = tails.get((device.pk, metric), (None, None))
        writer.writerow([
            device.pk, device.name, device.serial, device.type.name, metric, spec.get("unit", ""),
            count, _number(low), _number(mean), _number(high), _number(p95), _number(last),
            warn, critical,
        ])  # fmt: skip
        rows += 1
    return ReportFile("summary.csv", rows, out.getvalue().encode())


def alarms_file(
    schedule: ReportSchedule, start: datetime, end: datetime, devices: list[Device], tz: str
) -> ReportFile:
    """The alarms of the period: opened in it, or opened before and still active in it."""
    zone = ZoneInfo(tz)
    alarms = (
        Alarm.objects.filter(tenant_id=schedule.tenant_id, device__in=devices, opened_at__lt=end)
        .filter(Q(opened_at__gte=start) | Q(cleared_at__isnull=True) | Q(cleared_at__gte=start))
        .select_related("device", "rule", "acknowledged_by", "cleared_by")
        .order_by("opened_at", "id")
    )

    def local(when: datetime | None) -> str:
        return "" if when is None else when.astimezone(zone).isoformat()

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ALARMS_HEADER)
    rows = 0
    for a in alarms:
        writer.writerow([
            a.pk, a.device.name, a.rule.name, a.severity, a.status, local(a.opened_at),
            _number(a.first_value), _number(a.last_value), a.occurrences,
            local(a.acknowledged_at), a.acknowledged_by.get_username() if a.acknowledged_by else "",
            local(a.cleared_at), a.cleared_by.get_username() if a.cleared_by else "",
        ])  # fmt: skip
        rows += 1
    return ReportFile("alarms.csv", rows, out.getvalue().encode())


def anomaly_files(
    schedule: ReportSchedule, start: datetime, end: datetime, devices: list[Device], tz: str
) -> list[ReportFile]:
    """The anomaly spells of the period (begun in it, or begun before and not over by its
    start), and each device's health and RUL at its end (their last scores in it)."""
    zone = ZoneInfo(tz)
    events = (
        AnomalyEvent.objects.filter(
            tenant_id=schedule.tenant_id, device__in=devices, started_at__lt=end
        )
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=start))
        .select_related("device")
        .order_by("started_at", "id")
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ANOMALIES_HEADER)
    rows = 0
    for e in events:
        drivers = "; ".join(f"{d.get('metric')} {float(d.get('share', 0)):.0%}" for d in e.drivers)
        writer.writerow([
            e.pk, e.device.name, e.detector, e.started_at.astimezone(zone).isoformat(),
            e.ended_at.astimezone(zone).isoformat() if e.ended_at else "", e.minutes,
            _number(e.peak_score), drivers,
        ])  # fmt: skip
        rows += 1
    anomalies = ReportFile("anomalies.csv", rows, out.getvalue().encode())
    with connection.cursor() as cursor:
        cursor.execute(
            SCORES_SQL,
            {"tenant": schedule.tenant_id, "devices": [d.pk for d in devices],
             "metrics": list(SCORE_METRICS), "start": start, "end": end},
        )  # fmt: skip
        scores: dict[int, dict[str, float]] = {}
        for device_id, metric, value in cursor.fetchall():
            scores.setdefault(device_id, {})[SCORE_METRICS[metric]] = value
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SCORES_HEADER)
    rows = 0
    for device in devices:
        if device.pk not in scores:
            continue
        found = scores[device.pk]
        writer.writerow(
            [device.pk, device.name, *(_number(found.get(c)) for c in SCORES_HEADER[2:])]
        )
        rows += 1
    return [anomalies, ReportFile("health.csv", rows, out.getvalue().encode())]


def report_files(
    schedule: ReportSchedule,
    start: datetime,
    end: datetime,
    tz: str,
    listed: list[int] | None = None,
) -> list[ReportFile]:
    """The schedule's sections for the period (the readings section comes with the reports
    issue's next part)."""
    devices = list(scoped_devices(schedule, listed))
    files = []
    if ReportSection.SUMMARY in schedule.sections:
        files.append(summary_file(schedule, start, end, devices))
    if ReportSection.ALARMS in schedule.sections:
        files.append(alarms_file(schedule, start, end, devices, tz))
    if ReportSection.ANOMALIES in schedule.sections:
        files += anomaly_files(schedule, start, end, devices, tz)
    return files
