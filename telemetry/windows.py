"""Minute means as DataFrames: what the analytics engine trains and scores on.

One row per (device, minute), a column per metric, each cell the mean of that minute's readings
(from the minute rollups: a month of a device type is read without touching raw readings).
Minutes in which a metric did not report are NaN.
"""

from collections.abc import Sequence
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


def minute_means(
    *,
    tenant_id: int,
    device_ids: Sequence[int],
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
) -> pd.DataFrame:
    """Minute means of the devices' metrics over [start, end): index (device, minute) sorted,
    columns ``metrics`` in the order given (float; NaN where a metric has no reading)."""
    index = pd.MultiIndex.from_arrays(
        [pd.Index([], dtype="int64"), pd.DatetimeIndex([], tz="UTC")], names=["device", "minute"]
    )
    if not device_ids or not metrics:
        return pd.DataFrame(index=index, columns=list(metrics), dtype=float)
    sql = WIDE_SQL.format(columns=", ".join(COLUMN.format(i=i) for i in range(len(metrics))))
    params: dict[str, Any] = {
        "tenant": tenant_id,
        "devices": list(device_ids),
        "metrics": list(metrics),
        "start": start,
        "end": end,
    }
    params.update({f"m{i}": metric for i, metric in enumerate(metrics)})
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return pd.DataFrame(index=index, columns=list(metrics), dtype=float)
    data = np.array(rows, dtype=float)
    minutes = pd.to_datetime(data[:, 1], unit="s", utc=True).round("s")
    frame = pd.DataFrame(
        data[:, 2:],
        index=pd.MultiIndex.from_arrays(
            [data[:, 0].astype(np.int64), minutes], names=["device", "minute"]
        ),
        columns=list(metrics),
    )
    return frame
