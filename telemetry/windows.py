"""Minute means as DataFrames: what the analytics engine trains and scores on.

One row per (device, minute), a column per metric, each cell the mean of that minute's readings
(from the minute rollups: a month of a device type is read without touching raw readings).
Minutes in which a metric did not report are NaN.
"""

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from django.db import connection

MINUTE_MEANS_SQL = """
SELECT device_id, bucket, metric, sum / count
FROM telemetry_rollup_1m
WHERE tenant_id = %(tenant)s AND device_id = ANY(%(devices)s::int8[])
  AND metric = ANY(%(metrics)s::text[]) AND bucket >= %(start)s AND bucket < %(end)s
"""


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
    with connection.cursor() as cursor:
        cursor.execute(
            MINUTE_MEANS_SQL,
            {
                "tenant": tenant_id,
                "devices": list(device_ids),
                "metrics": list(metrics),
                "start": start,
                "end": end,
            },
        )
        rows = cursor.fetchall()
    if not rows:
        return pd.DataFrame(index=index, columns=list(metrics), dtype=float)
    device, minute, metric, value = zip(*rows, strict=True)
    long = pd.DataFrame(
        {
            "device": np.asarray(device, dtype=np.int64),
            "minute": pd.DatetimeIndex(minute).tz_convert("UTC"),
            "metric": metric,
            "value": np.asarray(value, dtype=float),
        }
    )
    wide = long.pivot_table(index=["device", "minute"], columns="metric", values="value")
    wide.columns.name = None
    return wide.reindex(columns=list(metrics)).sort_index().astype(float)
