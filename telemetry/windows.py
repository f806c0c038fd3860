"""Minute means as DataFrames: what the analytics engine trains and scores on.

One row per (device, minute), a column per metric, each cell the mean of that minute's readings
(from the minute rollups: a month of a device type is read without touching raw readings).
Minutes in which a metric did not report are NaN.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection

# One row per (device, minute) with a column per metric, the minute as epoch seconds: a quarter
# of the rows of the long shape and no timestamp parsing per value (a month of a dozen devices,
# 2 M rollup rows, read in a few seconds instead of a quarter of a minute).
WIDE_SQL = """
SELECT device_id, extract(epoch FROM bucket)::float8, {columns}
FROM telemetry_rollup_1m
WHERE tenant_id = %(tenant)s AND device_id = ANY(%(devices)s::int8[])
  AND metric = ANY(%(metrics)s::text[]) AND bucket >= %(start)s AND bucket < %(end)s
GROUP BY device_id, bucket
ORDER BY device_id, bucket
"""
COLUMN = "max(sum / count) FILTER (WHERE metric = %(m{i})s)"
# The same, each device over its own span (the overall bounds let TimescaleDB skip chunks).
SPANS_SQL = """
SELECT r.device_id, extract(epoch FROM r.bucket)::float8, {columns}
FROM telemetry_rollup_1m r
JOIN unnest(%(devices)s::int8[], %(starts)s::timestamptz[], %(ends)s::timestamptz[])
  AS s(device_id, start, stop)
  ON r.device_id = s.device_id AND r.bucket >= s.start AND r.bucket < s.stop
WHERE r.tenant_id = %(tenant)s AND r.device_id = ANY(%(devices)s::int8[])
  AND r.metric = ANY(%(metrics)s::text[]) AND r.bucket >= %(start)s AND r.bucket < %(end)s
GROUP BY r.device_id, r.bucket
ORDER BY r.device_id, r.bucket
"""


@dataclass
class Held:
    """Minute means already read (``minute_means`` over ``start``, ``end``), which later reads of
    some of its devices within its span and columns take instead of reading them again."""

    frame: pd.DataFrame
    start: datetime
    end: datetime

    def serves(self, metrics: Sequence[str], start: datetime, end: datetime) -> bool:
        return self.start <= start and end <= self.end and set(metrics) <= set(self.frame)

    def take(
        self, device_ids: Sequence[int], metrics: Sequence[str], start: datetime, end: datetime
    ) -> pd.DataFrame:
        """The rows ``minute_means`` would read: those with a reading of one of ``metrics``."""
        index = self.frame.index
        minute = index.get_level_values("minute")
        rows = (
            index.get_level_values("device").isin(device_ids) & (minute >= start) & (minute < end)
        )
        return self.frame.loc[rows, list(metrics)].dropna(how="all")


def minute_means(
    *,
    tenant_id: int,
    device_ids: Sequence[int],
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    held: Held | None = None,
) -> pd.DataFrame:
    """Minute means of the devices' metrics over [start, end): index (device, minute) sorted,
    columns ``metrics`` in the order given (float; NaN where a metric has no reading).
    ``held``: minutes already read, taken from it for its devices where it spans the read."""
    if not device_ids or not metrics:
        return _frame([], metrics)
    if held is not None and held.serves(metrics, start, end):
        have = set(held.frame.index.get_level_values("device"))
        taken = [d for d in device_ids if d in have]
        if taken:
            rest = [d for d in device_ids if d not in have]
            read = minute_means(
                tenant_id=tenant_id, device_ids=rest, metrics=metrics, start=start, end=end
            )
            return pd.concat([held.take(taken, metrics, start, end), read]).sort_index()
    params: dict[str, Any] = {
        "tenant": tenant_id,
        "devices": list(device_ids),
        "metrics": list(metrics),
        "start": start,
        "end": end,
    }
    return _read(WIDE_SQL, params, metrics)


def minute_means_spans(
    *, tenant_id: int, spans: Mapping[int, tuple[datetime, datetime]], metrics: Sequence[str]
) -> pd.DataFrame:
    """Minute means as ``minute_means`` gives them, each device over its own [start, end)
    (``spans``), in one query."""
    if not spans or not metrics:
        return _frame([], metrics)
    devices = sorted(spans)
    params: dict[str, Any] = {
        "tenant": tenant_id,
        "devices": devices,
        "starts": [spans[d][0] for d in devices],
        "ends": [spans[d][1] for d in devices],
        "metrics": list(metrics),
        "start": min(s for s, _ in spans.values()),
        "end": max(e for _, e in spans.values()),
    }
    return _read(SPANS_SQL, params, metrics)


def _read(template: str, params: dict[str, Any], metrics: Sequence[str]) -> pd.DataFrame:
    sql = template.format(columns=", ".join(COLUMN.format(i=i) for i in range(len(metrics))))
    params.update({f"m{i}": metric for i, metric in enumerate(metrics)})
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _frame(cursor.fetchall(), metrics)


def _frame(rows: list[tuple[Any, ...]], metrics: Sequence[str]) -> pd.DataFrame:
    if not rows:
        index = pd.MultiIndex.from_arrays(
            [pd.Index([], dtype="int64"), pd.DatetimeIndex([], tz="UTC")],
            names=["device", "minute"],
        )
        return pd.DataFrame(index=index, columns=list(metrics), dtype=float)
    data = np.array(rows, dtype=float)
    minutes = pd.to_datetime(data[:, 1], unit="s", utc=True).round("s")
    return pd.DataFrame(
        data[:, 2:],
        index=pd.MultiIndex.from_arrays(
            [data[:, 0].astype(np.int64), minutes], names=["device", "minute"]
        ),
        columns=list(metrics),
    )
