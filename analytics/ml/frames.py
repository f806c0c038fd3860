"""One-minute frames: the grain the platform trains and scores its models on.

The platform reads per-device, per-minute means from its rollups; offline, the same frame is built
from raw readings by ``minute_means``. Ground truth is then put on the frame's index: which
minutes lie inside labelled anomaly windows (``labelled_minutes``, ``windows_flagged`` for the
event-level view) and the true remaining life at each minute (``rul_at``).

Times: a ``ts`` column (or a label's ``start_ms`` / ``end_ms``) in milliseconds since the epoch,
as the simulator and ThingsBoard write them, or tz-aware datetimes; minutes come out as UTC
timestamps. A minute ``m`` stands for the readings with ``m <= ts < m + 1 min``; a labelled
window ``[start, end]`` (both ends included) covers every minute it meets.
"""

from collections.abc import Iterable

import numpy as np
import pandas as pd

MINUTE = pd.Timedelta(minutes=1)
INDEX = ["device", "minute"]


def _times(values: pd.Series) -> pd.Series:
    """Milliseconds since the epoch or datetimes, as tz-aware UTC timestamps."""
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_datetime(values.astype("int64"), unit="ms", utc=True)
    return pd.to_datetime(values, utc=True)


def minute_means(readings: pd.DataFrame) -> pd.DataFrame:
    """Readings (``ts, device, metric, value``) as their mean per device and minute: indexed
    (device, minute), a column per metric (NaN where a device has no such metric or sent none
    that minute), sorted. Minutes without any reading are absent."""
    minute = _times(readings["ts"]).dt.floor("min")
    grouped = (
        readings["value"]
        .astype(float)
        .groupby(
            [
                readings["device"].astype(str),
                minute.rename("minute"),
                readings["metric"].astype(str),
            ],
            sort=True,
        )
    )
    frame = grouped.mean().unstack("metric")
    frame.index.names = INDEX
    frame.columns.name = None
    return frame.sort_index()


def _windows(labels: pd.DataFrame, kinds: Iterable[str] | None) -> pd.DataFrame:
    """The windows of ``kinds`` as the first and last minute each meets, positionally indexed."""
    rows = labels if kinds is None else labels[labels["kind"].isin(list(kinds))]
    rows = rows.reset_index(drop=True)
    return pd.DataFrame(
        {
            "device": rows["device"].astype(str),
            "first": _times(rows["start_ms"]).dt.floor("min"),
            "last": _times(rows["end_ms"]).dt.floor("min"),
        }
    )


def _positions(index: pd.MultiIndex, windows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For each window, the positions [begin, stop) of the index rows it covers (the index
    sorted by device, then minute)."""
    if not index.is_monotonic_increasing:
        raise ValueError("the index must be sorted by device, then minute")
    devices = index.get_level_values("device").astype(str)
    minutes = index.get_level_values("minute")
    begin = np.zeros(len(windows), dtype=np.int64)
    stop = np.zeros(len(windows), dtype=np.int64)
    codes, uniques = pd.factorize(devices)
    offsets = np.searchsorted(codes, np.arange(len(uniques) + 1))
    where = {str(d): i for i, d in enumerate(uniques)}
    for device, group in windows.groupby("device", sort=False):
        i = where.get(str(device))
        if i is None:
            continue  # a device without readings: its windows cover nothing
        lo, hi = offsets[i], offsets[i + 1]
        own = minutes[lo:hi]
        rows = group.index.to_numpy()
        begin[rows] = lo + own.searchsorted(pd.DatetimeIndex(group["first"]), side="left")
        stop[rows] = lo + own.searchsorted(pd.DatetimeIndex(group["last"]), side="right")
    return begin, stop


def labelled_minutes(
    labels: pd.DataFrame, index: pd.MultiIndex, *, kinds: Iterable[str] | None = None
) -> pd.Series:
    """True for the minutes of ``index`` (device, minute; sorted) that meet a labelled window
    (``labels``: device, kind, start_ms, end_ms, as ``labels.csv``) of one of ``kinds``
    (default: every kind)."""
    windows = _windows(labels, kinds)
    begin, stop = _positions(index, windows)
    # +1 at each window's first row, -1 past its last: a running sum > 0 is inside one
    marks = np.zeros(len(index) + 1, dtype=np.int64)
    np.add.at(marks, begin, 1)
    np.add.at(marks, stop, -1)
    inside = np.cumsum(marks[:-1]) > 0
    return pd.Series(inside, index=index, name="labelled")


def windows_flagged(
    labels: pd.DataFrame, flags: pd.Series, *, kinds: Iterable[str] | None = None
) -> pd.Series:
    """For each labelled window of ``kinds``: whether any minute it covers is flagged
    (``flags``: booleans indexed device, minute; sorted). NaN for a window that covers no
    minute of the index (the device sent nothing then). Indexed like ``labels``' rows."""
    selected = labels if kinds is None else labels[labels["kind"].isin(list(kinds))]
    windows = _windows(selected, None)
    begin, stop = _positions(flags.index, windows)
    counts = np.concatenate([[0], np.cumsum(flags.to_numpy(dtype=bool))])
    hits = counts[stop] - counts[begin]
    return pd.Series(np.where(stop > begin, hits > 0, np.nan), index=selected.index, name="flagged")


def rul_at(rul: pd.DataFrame, index: pd.MultiIndex) -> pd.DataFrame:
    """The true remaining life at each minute of ``index`` (device, minute): from ``rul``
    (``ts, device, rul_seconds, censored``, as ``rul.csv``), the row latest in that minute.
    Columns ``rul_seconds`` (NaN where the minute has no row) and ``censored`` (True: the
    next failure lies beyond the data, the figure is a lower bound)."""
    ts = _times(rul["ts"])
    frame = pd.DataFrame(
        {
            "device": rul["device"].astype(str),
            "minute": ts.dt.floor("min"),
            "ts": ts,
            "rul_seconds": rul["rul_seconds"].astype(float),
            "censored": rul["censored"].astype(bool),
        }
    )
    ordered = frame.sort_values(["device", "ts"], kind="stable")
    last = ordered.groupby(["device", "minute"], sort=True).last()
    out = last[["rul_seconds", "censored"]].reindex(index)
    out["censored"] = out["censored"].fillna(False).astype(bool)
    return out
