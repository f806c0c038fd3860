"""What the device page shows beside its charts: statistics, distributions and flagged points of
one device's readings over a range.

- :func:`statistics`: count, min, max, mean, standard deviation and percentiles per metric,
  exact (SQL over the raw readings), with a histogram and a Gaussian kernel density estimate.
  The histogram is counted in the database (``width_bucket`` into 256 fine bins, one scan) and
  the KDE is computed from those bins (binned KDE, Silverman's bandwidth), so a month of
  one-second readings never leaves PostgreSQL.
- :func:`anomalies`: the anomaly explorer's methods — value bounds and quantile bounds in SQL,
  the rolling z-score over the previous ``window`` readings with pandas' O(n) rolling moments
  (SQL window frames recompute every frame) — flagged points returned.

The explorer works on raw readings and refuses ranges holding more than ``MAX_EXPLORE_READINGS``
with a message asking for a shorter range (a 400 at the API), rather than taking seconds.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from iotplatform.database import reader

PERCENTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
FINE_BINS = 256
SHOWN_BINS = 32  # each shown bin is FINE_BINS / SHOWN_BINS fine ones
MAX_EXPLORE_READINGS = 1_000_000
MAX_STATISTICS_READINGS = 10_000_000  # about 4 months of one-second readings of 1 metric
MAX_FLAGGED_POINTS = 5_000


class RangeTooLarge(ValueError):
    pass


# One device's readings in [start, end); every query here takes named parameters.
IN_RANGE = (
    "tenant_id = %(tenant)s AND device_id = %(device)s AND time >= %(start)s AND time < %(end)s"
)


def statistics(
    *, tenant_id: int, device_id: int, metrics: list[str], start: datetime, end: datetime
) -> dict[str, dict[str, Any]]:
    """Per metric: summary figures, a histogram (``edges``, ``counts``) and a KDE (``x``,
    ``y`` scaled to readings per shown bin so it overlays the histogram). Metrics without
    readings in the range get ``count`` 0 and nothing else."""
    out: dict[str, dict[str, Any]] = {m: {"count": 0} for m in metrics}
    params: dict[str, Any] = {"tenant": tenant_id, "device": device_id, "start": start, "end": end}
    with reader().cursor() as cursor:
        # The minute rollups say how many readings there are (to the minute) without a scan.
        cursor.execute(
            "SELECT coalesce(sum(count), 0) FROM telemetry_rollup_1m WHERE tenant_id = %(tenant)s "
            "AND device_id = %(device)s AND metric = ANY(%(metrics)s) "
            "AND bucket >= date_trunc('minute', %(start)s::timestamptz) AND bucket < %(end)s",
            {**params, "metrics": metrics},
        )
        total = int(cursor.fetchone()[0])
        if total > MAX_STATISTICS_READINGS:
            raise RangeTooLarge(
                f"The range holds about {total:,} readings of these metrics; statistics take at "
                f"most {MAX_STATISTICS_READINGS:,}. Choose a shorter range or fewer metrics."
            )
        cursor.execute(
            "SELECT metric, count(*), min(value), max(value), avg(value), stddev_samp(value), "
            "percentile_cont(%(q)s::float8[]) WITHIN GROUP (ORDER BY value) "
            f"FROM telemetry_reading WHERE {IN_RANGE} AND metric = ANY(%(metrics)s) "
            "GROUP BY metric",
            {**params, "q": list(PERCENTILES), "metrics": metrics},
        )
        for metric, count, low, high, mean, std, percentiles in cursor.fetchall():
            out[metric] = {
                "count": count,
                "min": low,
                "max": high,
                "mean": mean,
                "std": std if std is not None else 0.0,
                "percentiles": {
                    f"p{round(q * 100)}": v for q, v in zip(PERCENTILES, percentiles, strict=True)
                },
            }
        present = [m for m, s in out.items() if s["count"]]
        if not present:
            return out
        # One scan counts every metric's fine bins; the range [min, max] is closed, so the
        # maximum goes into the last bin (width_bucket would put it in bin FINE_BINS + 1).
        cursor.execute(
            "SELECT r.metric, least(width_bucket(r.value, b.lo, b.hi, %(bins)s), %(bins)s) AS bin, "
            "count(*) FROM telemetry_reading r "
            "JOIN unnest(%(names)s::text[], %(lows)s::float8[], %(highs)s::float8[]) "
            "AS b(metric, lo, hi) ON b.metric = r.metric "
            f"WHERE {IN_RANGE.replace('tenant_id', 'r.tenant_id')} AND b.hi > b.lo "
            "GROUP BY r.metric, bin",
            {
                **params,
                "bins": FINE_BINS,
                "names": present,
                "lows": [out[m]["min"] for m in present],
                "highs": [out[m]["max"] for m in present],
            },
        )
        fine: dict[str, np.ndarray] = {m: np.zeros(FINE_BINS) for m in present}
        for metric, bin_number, count in cursor.fetchall():
            fine[metric][int(bin_number) - 1] = count
    for metric in present:
        out[metric].update(_distribution(out[metric], fine[metric]))
    return out


def _distribution(stats: dict[str, Any], fine: np.ndarray) -> dict[str, Any]:
    low, high, count = stats["min"], stats["max"], stats["count"]
    if high <= low:  # a constant: one bar, no density to estimate
        return {"histogram": {"edges": [low, high], "counts": [count]}, "kde": None}
    fine_width = (high - low) / FINE_BINS
    per_shown = FINE_BINS // SHOWN_BINS
    shown = fine.reshape(SHOWN_BINS, per_shown).sum(axis=1)
    edges = [low + i * fine_width * per_shown for i in range(SHOWN_BINS + 1)]
    histogram = {"edges": edges, "counts": [int(c) for c in shown]}
    # Silverman's rule of thumb, never narrower than a fine bin.
    iqr = stats["percentiles"]["p75"] - stats["percentiles"]["p25"]
    spread = min(stats["std"], iqr / 1.34) if iqr > 0 else stats["std"]
    bandwidth = max(0.9 * spread * count ** (-0.2), fine_width)
    centres = low + (np.arange(FINE_BINS) + 0.5) * fine_width
    grid = np.linspace(low - 2 * bandwidth, high + 2 * bandwidth, 200)
    kernel = np.exp(-0.5 * ((grid[:, None] - centres[None, :]) / bandwidth) ** 2)
    density = kernel @ fine / (count * bandwidth * math.sqrt(2 * math.pi))
    scale = count * fine_width * per_shown  # density → readings per shown bin
    return {
        "histogram": histogram,
        "kde": {
            "x": grid.tolist(),
            "y": (density * scale).tolist(),
            "bandwidth": bandwidth,
        },
    }


@dataclass
class Flagged:
    total: int
    count: int
    times: list[datetime]
    values: list[float]
    scores: list[float] | None
    low: float | None
    high: float | None

    @property
    def truncated(self) -> bool:
        return self.count > len(self.times)


def anomalies(
    *,
    tenant_id: int,
    device_id: int,
    metric: str,
    start: datetime,
    end: datetime,
    method: str,
    low: float | None = None,
    high: float | None = None,
    q_low: float | None = None,
    q_high: float | None = None,
    window: int = 60,
    threshold: float = 3.0,
) -> Flagged:
    """Readings the method flags, oldest first (at most ``MAX_FLAGGED_POINTS`` returned, all
    counted).

    ``value``: outside [low, high] (either may be absent). ``quantile``: outside the range's
    q_low / q_high quantiles. (Both in SQL, so the readings stay in the database; their pure
    definitions for readings in memory are ``analytics.ml.detectors.value_flags`` and
    ``quantile_flags``, tested to agree with these.) ``zscore``: more than ``threshold``
    standard deviations from the mean of the previous ``window`` readings (a reading does not
    dilute its own score; the first ``window`` readings are not scored).
    """
    if method not in ("value", "quantile", "zscore"):
        raise ValueError(f"unknown method {method!r}")
    where = f"{IN_RANGE} AND metric = %(metric)s"
    params: dict[str, Any] = {
        "tenant": tenant_id,
        "device": device_id,
        "start": start,
        "end": end,
        "metric": metric,
        "window": window,
        "threshold": threshold,
        "limit": MAX_FLAGGED_POINTS,
    }
    with reader().cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM telemetry_reading WHERE {where}", params)
        total: int = cursor.fetchone()[0]
        if total > MAX_EXPLORE_READINGS:
            raise RangeTooLarge(
                f"The range holds {total:,} readings of {metric}; the explorer takes at most "
                f"{MAX_EXPLORE_READINGS:,}. Choose a shorter range."
            )
        if method == "quantile":
            cursor.execute(
                "SELECT percentile_cont(%(q_low)s) WITHIN GROUP (ORDER BY value), "
                "percentile_cont(%(q_high)s) WITHIN GROUP (ORDER BY value) "
                f"FROM telemetry_reading WHERE {where}",
                {
                    **params,
                    "q_low": q_low if q_low is not None else 0.0,
                    "q_high": q_high if q_high is not None else 1.0,
                },
            )
            low, high = cursor.fetchone()
            if q_low is None:
                low = None
            if q_high is None:
                high = None
        if method == "zscore":
            return _zscore(cursor, where, params, total=total, window=window, threshold=threshold)
        condition = " OR ".join(
            part
            for part, bound in (("value < %(low)s", low), ("value > %(high)s", high))
            if bound is not None
        )
        cursor.execute(
            f"WITH f AS (SELECT time, value FROM telemetry_reading "
            f"WHERE {where} AND ({condition or 'false'})) "
            "SELECT *, count(*) OVER () FROM f ORDER BY time LIMIT %(limit)s",
            {**params, "low": low, "high": high},
        )
        rows = cursor.fetchall()
    return Flagged(
        total=total,
        count=rows[0][2] if rows else 0,
        times=[row[0] for row in rows],
        values=[row[1] for row in rows],
        scores=None,
        low=low,
        high=high,
    )


def rolling_zscore(values: pd.Series, *, window: int) -> pd.Series:
    """Each reading's distance from the previous ``window`` readings, in their standard
    deviations (NaN until there are ``window`` of them, or when they do not vary). The one
    definition: the explorer here and the analytics detectors use it."""
    previous = values.rolling(window).agg(["mean", "std"]).shift(1)
    spread = previous["std"].where(previous["std"] > 0)
    return (values - previous["mean"]) / spread


def _zscore(
    cursor: Any, where: str, params: dict[str, Any], *, total: int, window: int, threshold: float
) -> Flagged:
    """The rolling z-score in numpy/pandas: O(n) rolling moments, where SQL window frames
    recompute each frame (a week of one-second readings: about 5 s in SQL)."""
    cursor.execute(
        "SELECT (extract(epoch FROM time) * 1000000)::int8, value "
        f"FROM telemetry_reading WHERE {where} ORDER BY time",
        params,
    )
    rows = cursor.fetchall()
    micros = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    values = pd.Series(np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows)))
    z = rolling_zscore(values, window=window).to_numpy()
    flagged = np.flatnonzero(np.abs(np.nan_to_num(z, nan=0.0)) > threshold)
    shown = flagged[:MAX_FLAGGED_POINTS]
    return Flagged(
        total=total,
        count=len(flagged),
        times=[
            datetime.fromtimestamp(int(m) // 1_000_000, UTC).replace(microsecond=int(m) % 1_000_000)
            for m in micros[shown]
        ],
        values=[float(v) for v in values.to_numpy()[shown]],
        scores=[float(x) for x in z[shown]],
        low=None,
        high=None,
    )
