"""What the Analytics page shows of a device type over a time range, and its two CSV files.

- The behaviour clusters' windows that start in the range, each marked when it overlaps one of
  its device's anomaly spells (read now, so a spell recorded after the clusters were trained
  counts), with windows and anomalous windows per cluster counted over every window in the range;
  the points sent for the 3-D plot thinned to ``MAX_POINTS`` (outliers and anomalous windows
  always kept).
- The anomaly spells of the range (begun before its end and not over before its start, as the
  anomaly list and the report's ``anomalies.csv`` have them): per device and detector, and those
  begun in it counted per hour or day of the tenant's clock.
- ``anomalies.csv`` (the report's file and columns) and ``clusters.csv`` (one row per window),
  both streamed: the spells read 2,000 at a time by their (start, id) order.
"""

import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from asgiref.sync import sync_to_async
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDay, TruncHour

from devices.models import Device, DeviceType
from iotplatform.spreadsheet import safe_cell
from iotplatform.tenancy.models import Tenant

from .artefacts import artefact_load
from .models import AnomalyEvent, ModelKind
from .registry import active_version
from .selectors import anomaly_event_list

MAX_POINTS = 20_000  # windows sent for the 3-D plot
MAX_BUCKETS = {"hour": 24 * 93, "day": 3 * 366}
TOP_DEVICES = 20  # named in the per-device counts; the rest summed as "others"
CHUNK = 2000

ANOMALIES_HEADER = [
    "event_id", "device", "detector", "started_at", "ended_at", "flagged_minutes", "peak_score",
    "drivers",
]  # fmt: skip
CLUSTERS_HEADER = [
    "device_id", "device", "window_start", "window_end", "cluster", "x", "y", "z",
    "in_anomaly_spell",
]  # fmt: skip


def number(value: Any) -> str:
    return "" if value is None else f"{float(value):.6g}"


def anomaly_row(event: AnomalyEvent, zone: ZoneInfo) -> list[Any]:
    """A spell as a row of ``anomalies.csv`` (the event's device selected with it)."""
    drivers = "; ".join(f"{d.get('metric')} {float(d.get('share', 0)):.0%}" for d in event.drivers)
    return [
        event.pk, safe_cell(event.device.name), event.detector,
        event.started_at.astimezone(zone).isoformat(),
        event.ended_at.astimezone(zone).isoformat() if event.ended_at else "", event.minutes,
        number(event.peak_score), drivers,
    ]  # fmt: skip


def spells(
    *,
    tenant: Tenant,
    start: datetime,
    end: datetime,
    device_type: DeviceType | None = None,
    device: Device | None = None,
) -> QuerySet[AnomalyEvent]:
    """The tenant's anomaly spells overlapping [start, end) (as the anomaly list has them), of
    one type or device when given, in no particular order."""
    events = anomaly_event_list(tenant=tenant, device=device, start=start, end=end)
    if device_type is not None:
        events = events.filter(device__type=device_type)
    return events.order_by()


def bucket_starts(start: datetime, end: datetime, bucket: str, zone: ZoneInfo) -> list[datetime]:
    """The hours or days of ``zone`` that [start, end) touches, each as its first instant."""
    if bucket == "hour":
        first = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        # whole hours of the zone are whole hours apart in UTC, across daylight saving too
        at, step, out = first.astimezone(UTC), timedelta(hours=1), []
        while at < end:
            out.append(at)
            at += step
        return out
    day, out = start.astimezone(zone).date(), []
    while (midnight := datetime.combine(day, time(), tzinfo=zone)) < end:
        out.append(midnight.astimezone(UTC))
        day += timedelta(days=1)
    return out


def spell_counts(
    *,
    tenant: Tenant,
    start: datetime,
    end: datetime,
    bucket: str,
    tz: str,
    device_type: DeviceType | None = None,
) -> dict[str, Any]:
    """Spells begun per hour or day of ``tz`` (every bucket, empty ones as 0), and the spells
    of the range per device (the most first) and per detector."""
    zone = ZoneInfo(tz)
    events = spells(tenant=tenant, start=start, end=end, device_type=device_type)
    trunc = TruncHour if bucket == "hour" else TruncDay
    begun = (
        events.filter(started_at__gte=start)
        .annotate(at=trunc("started_at", tzinfo=zone))
        .values("at")
        .annotate(n=Count("id"))
    )
    per_bucket = {row["at"]: row["n"] for row in begun}
    series = [
        {"start": at, "count": per_bucket.get(at, 0)}
        for at in bucket_starts(start, end, bucket, zone)
    ]
    by_device = list(
        events.values("device_id", "device__name")
        .annotate(n=Count("id"))
        .order_by("-n", "device__name")
    )
    shown = [
        {"device": row["device_id"], "name": row["device__name"], "count": row["n"]}
        for row in by_device[:TOP_DEVICES]
    ]
    return {
        "bucket": bucket,
        "tz": tz,
        "start": start,
        "end": end,
        "total": sum(row["n"] for row in by_device),
        "begun": sum(per_bucket.values()),
        "series": series,
        "devices": shown,
        "other_devices": sum(row["n"] for row in by_device[TOP_DEVICES:]),
        "detectors": {
            row["detector"]: row["n"]
            for row in events.values("detector").annotate(n=Count("id")).order_by("detector")
        },
    }


def windows_in_spells(
    tenant: Tenant, index: pd.MultiIndex, width: timedelta, end: datetime
) -> np.ndarray:
    """Which windows (index: device, first minute; ``width`` long) overlap one of their
    device's anomaly spells begun before ``end``."""
    flags = np.zeros(len(index), dtype=bool)
    if not len(index):
        return flags
    devices = index.get_level_values(0).to_numpy()
    starts = index.get_level_values(1)
    first = starts.min()
    events = AnomalyEvent.objects.filter(
        tenant=tenant, device_id__in=sorted({int(d) for d in devices}), started_at__lt=end
    ).filter(Q(ended_at__isnull=True) | Q(ended_at__gt=first))
    # each device's windows, found once: a spell looks at its own device's only
    rows = {int(d): np.flatnonzero(devices == d) for d in np.unique(devices)}
    for device_id, began, ended in events.values_list("device_id", "started_at", "ended_at"):
        own = rows.get(int(device_id))
        if own is None:
            continue
        mine = starts[own]
        flags[own] |= np.asarray(mine < (ended or end)) & np.asarray(mine + width > began)
    return flags


class ClusterWindows:
    """The active cluster version of a type, its windows limited to those starting in
    [start, end) (every window without a range), flagged by today's spells."""

    def __init__(
        self,
        *,
        tenant: Tenant,
        device_type: DeviceType,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        self.version = active_version(
            tenant=tenant, device_type=device_type, kind=ModelKind.CLUSTER
        )
        self.found = self.version is not None
        if self.version is None:
            return
        artefact = artefact_load(name=self.version.artefact, checksum=self.version.checksum)
        self.result = artefact["result"]
        index: pd.MultiIndex = artefact["index"]
        self.width = timedelta(minutes=int(self.version.params.get("window_minutes", 30)))
        starts = pd.DatetimeIndex(index.get_level_values(1))
        keep = np.ones(len(index), dtype=bool)
        if start is not None:
            keep &= np.asarray(starts >= start)
        if end is not None:
            keep &= np.asarray(starts < end)
        self.rows = np.flatnonzero(keep)
        self.index = index[self.rows]
        self.labels = np.asarray(self.result.labels)[self.rows]
        self.coords = np.asarray(self.result.coords)[self.rows]
        self.flags = windows_in_spells(
            tenant, self.index, self.width, self.version.window_end or datetime.now(UTC)
        )
        ids = {int(d) for d in self.index.get_level_values(0)}
        self.names = dict(
            Device.objects.filter(tenant=tenant, id__in=ids).values_list("id", "name")
        )

    def counts(self) -> dict[str, dict[str, int]]:
        minutes = int(self.width.total_seconds() // 60)
        out = {}
        for label in sorted({int(v) for v in self.result.counts} | {int(v) for v in self.labels}):
            mine = self.labels == label
            windows = int(mine.sum())
            out[str(label)] = {
                "windows": windows,
                "minutes": windows * minutes,
                "anomalies": int(self.flags[mine].sum()),
            }
        return out

    def shown(self, limit: int) -> np.ndarray:
        """Positions of the windows to plot: all, or every outlier and anomalous window and an
        even, seeded sample of the rest."""
        n = len(self.labels)
        if n <= limit:
            return np.arange(n)
        must = np.flatnonzero((self.labels == -1) | self.flags)[:limit]
        rest = np.setdiff1d(np.arange(n), must)
        extra = np.random.default_rng(0).choice(rest, max(0, limit - len(must)), replace=False)
        return np.sort(np.concatenate([must, extra]))

    def body(self, limit: int | None = None) -> dict[str, Any]:
        assert self.version is not None
        at = self.shown(limit or MAX_POINTS)
        devices = [int(d) for d in self.index.get_level_values(0)[at]]
        return {
            "version": self.version.pk,
            "device_type": self.version.device_type.name,
            "trained_at": self.version.trained_at,
            "window_start": self.version.window_start,
            "window_end": self.version.window_end,
            "eps": float(self.result.eps),
            "explained": [float(v) for v in self.result.explained],
            "window_minutes": int(self.width.total_seconds() // 60),
            "windows": len(self.labels),
            "clusters": self.counts(),
            "points": {
                "device": devices,
                "name": [self.names.get(d, "") for d in devices],
                "start": list(self.index.get_level_values(1)[at]),
                "x": [round(float(v), 4) for v in self.coords[at, 0]],
                "y": [round(float(v), 4) for v in self.coords[at, 1]],
                "z": [round(float(v), 4) for v in self.coords[at, 2]],
                "cluster": [int(v) for v in self.labels[at]],
                "anomalous": [bool(v) for v in self.flags[at]],
            },
        }

    def rows_csv(self, zone: ZoneInfo) -> Iterator[list[Any]]:
        starts = self.index.get_level_values(1)
        for i, device in enumerate(self.index.get_level_values(0)):
            began = pd.Timestamp(starts[i]).to_pydatetime()
            ended = began + self.width
            yield [
                int(device), safe_cell(self.names.get(int(device), "")),
                began.astimezone(zone).isoformat(), ended.astimezone(zone).isoformat(),
                int(self.labels[i]), *(number(v) for v in self.coords[i]), int(bool(self.flags[i])),
            ]  # fmt: skip


def _chunks(header: list[str], rows: Iterator[list[Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(header)
    for n, row in enumerate(rows, 1):
        out.writerow(row)
        if n % CHUNK == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


async def clusters_csv(windows: ClusterWindows, tz: str) -> AsyncIterator[bytes]:
    for chunk in _chunks(CLUSTERS_HEADER, windows.rows_csv(ZoneInfo(tz))):
        yield chunk


def _spell_page(
    events: QuerySet[AnomalyEvent], after: tuple[datetime, int] | None
) -> list[AnomalyEvent]:
    if after is not None:
        events = events.filter(Q(started_at__gt=after[0]) | Q(started_at=after[0], id__gt=after[1]))
    return list(events.select_related("device").order_by("started_at", "id")[:CHUNK])


async def anomalies_csv(events: QuerySet[AnomalyEvent], tz: str) -> AsyncIterator[bytes]:
    """``anomalies.csv`` of the spells, oldest first, read a page at a time by their order."""
    zone = ZoneInfo(tz)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(ANOMALIES_HEADER)
    after: tuple[datetime, int] | None = None
    while True:
        page = await sync_to_async(_spell_page)(events, after)
        for event in page:
            out.writerow(anomaly_row(event, zone))
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        if len(page) < CHUNK:
            return
        after = (page[-1].started_at, page[-1].pk)
