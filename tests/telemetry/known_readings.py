"""A known telemetry data set, written through the real writer, and its expected aggregates
computed independently in Python."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection

from telemetry.ingest.writer import Row, write_sync

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
STEP = timedelta(seconds=10)
SAMPLES = 3 * 360  # three hours


def value(metric: str, i: int, device_id: int) -> float:
    base = 60.0 if metric == "temperature" else 2.0
    return base + ((i * 7 + device_id * 3) % 23) / 4


def rows(
    tenant_id: int,
    device_id: int,
    metrics: tuple[str, ...] = ("temperature", "vibration"),
    samples: int = SAMPLES,
) -> list[Row]:
    return [
        (T0 + i * STEP, tenant_id, device_id, metric, value(metric, i, device_id))
        for i in range(samples)
        for metric in metrics
    ]


def write(all_rows: Sequence[tuple[datetime, int, int, str, float]]) -> None:
    """Store readings given as (time, tenant, device, metric, value) through the real writer."""
    connection.ensure_connection()
    pg = connection.connection
    with pg.transaction():
        write_sync(pg, list(all_rows))


def expected(
    all_rows: list[Row], width: timedelta, metric: str, device_id: int | None = None
) -> dict[str, list[Any]]:
    groups: dict[datetime, list[float]] = defaultdict(list)
    origin = datetime(2000, 1, 1, tzinfo=UTC)
    for when, _, dev, m, v in all_rows:
        if m == metric and (device_id is None or dev == device_id):
            groups[origin + ((when - origin) // width) * width].append(v)
    keys = sorted(groups)
    return {
        "t": keys,
        "count": [len(groups[k]) for k in keys],
        "min": [min(groups[k]) for k in keys],
        "avg": [sum(groups[k]) / len(groups[k]) for k in keys],
        "max": [max(groups[k]) for k in keys],
    }
