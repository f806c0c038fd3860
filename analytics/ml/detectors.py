"""The simple per-metric detectors, on one device's readings (a DataFrame: a column per metric,
rows in time order). Each flag says which metric drove it and by how much.

- thresholds from the device's effective definitions (``warn_low`` / ``warn_high``: its own over
  its type's);
- the rolling z-score (default window 20 readings, threshold 2.0), computed by the same
  function as the explorer's (``telemetry.analysis.rolling_zscore``);
- value bounds (outside [low, high]) and quantile bounds (outside the q_low / q_high quantiles
  of the readings given), the explorer's other two methods. The explorer
  (``telemetry.analysis.anomalies``) applies them in SQL so a month of readings never leaves
  PostgreSQL; these are their pure definitions for readings already in memory, the same rule
  (``percentile_cont`` interpolates linearly, as ``numpy.quantile`` does), and the tests check
  the two agree;
- a stuck sensor (``stuck_flags``: the very same value a few readings in a row, which no live
  sensor's noise gives; a saturated range's end excepted), its vectorised core ``stuck_runs``
  taking arrays, for whole histories. The other detector of a device against itself, each
  metric's residual against its own recent fit, is in ``residuals``.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from telemetry.analysis import rolling_zscore

ZSCORE_WINDOW = 20
ZSCORE_THRESHOLD = 2.0
QUANTILE_LOW, QUANTILE_HIGH = 0.01, 0.99


@dataclass(frozen=True)
class Flag:
    row: Any  # the frame's index label (a time)
    metric: str
    detector: str  # "threshold", "zscore", "value", "quantile", "stuck" or "residual"
    value: float
    score: float  # how far: beyond the bound, or in standard deviations (zscore)


def outside(
    values: ArrayLike, low: float | None = None, high: float | None = None
) -> NDArray[np.bool_]:
    """Which values lie outside [low, high] (an absent bound does not limit; NaN never does)."""
    x = np.asarray(values, dtype=float)
    beyond = np.zeros(x.shape, dtype=bool)
    if low is not None:
        beyond |= x < low
    if high is not None:
        beyond |= x > high
    return beyond


def quantile_bounds(
    values: ArrayLike, q_low: float | None = None, q_high: float | None = None
) -> tuple[float | None, float | None]:
    """The values' q_low and q_high quantiles (linear interpolation, missing values left out);
    None for an absent quantile or when there are no values."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    for q in (q_low, q_high):
        if q is not None and not 0 <= q <= 1:
            raise ValueError(f"quantile {q}: between 0 and 1")
    if not len(x):
        return None, None
    low = None if q_low is None else float(np.quantile(x, q_low))
    high = None if q_high is None else float(np.quantile(x, q_high))
    return low, high


def _bound_flags(
    values: pd.Series, metric: str, detector: str, low: float | None, high: float | None
) -> list[Flag]:
    """Each reading outside [low, high], in the frame's order; ``score``: how far past."""
    x = values.astype(float)
    beyond = outside(x, low, high)
    past = np.fmax(
        x - (high if high is not None else np.inf), (low if low is not None else -np.inf) - x
    )
    return [
        Flag(row, metric, detector, float(value), float(distance))
        for row, value, distance in zip(x.index[beyond], x[beyond], past[beyond], strict=True)
    ]


def threshold_flags(frame: pd.DataFrame, limits: Mapping[str, Mapping[str, float]]) -> list[Flag]:
    """Readings beyond their metric's warning limits; ``score`` is the distance past it."""
    flags = []
    for metric, limit in limits.items():
        if metric in frame.columns:
            low, high = limit.get("warn_low"), limit.get("warn_high")
            flags += _bound_flags(frame[metric], metric, "threshold", low, high)
    return flags


def value_flags(frame: pd.DataFrame, bounds: Mapping[str, Mapping[str, float]]) -> list[Flag]:
    """Readings outside their metric's [``low``, ``high``] (either may be absent): the
    explorer's ``value`` method; ``score`` is the distance past the bound."""
    flags = []
    for metric, bound in bounds.items():
        if metric in frame.columns:
            flags += _bound_flags(
                frame[metric], metric, "value", bound.get("low"), bound.get("high")
            )
    return flags


def quantile_flags(
    frame: pd.DataFrame,
    *,
    q_low: float | None = QUANTILE_LOW,
    q_high: float | None = QUANTILE_HIGH,
    metrics: Sequence[str] | None = None,
) -> list[Flag]:
    """Readings outside their metric's q_low / q_high quantiles over the frame's readings (the
    explorer's ``quantile`` method; None: no bound on that side); ``score`` is the distance
    past the quantile."""
    flags = []
    for metric in metrics if metrics is not None else frame.columns:
        values = frame[metric].astype(float)
        low, high = quantile_bounds(values, q_low, q_high)
        flags += _bound_flags(values, metric, "quantile", low, high)
    return flags


def zscore_flags(
    frame: pd.DataFrame, *, window: int = ZSCORE_WINDOW, threshold: float = ZSCORE_THRESHOLD
) -> list[Flag]:
    """Readings more than ``threshold`` standard deviations from their previous ``window``."""
    flags = []
    for metric in frame.columns:
        values = frame[metric].astype(float)
        z = rolling_zscore(values, window=window)
        beyond = z[np.abs(z.fillna(0.0)) > threshold]
        for row, score in beyond.items():
            flags.append(Flag(row, metric, "zscore", float(values[row]), float(score)))
    return flags


def latest_zscores(
    frame: pd.DataFrame, *, window: int = ZSCORE_WINDOW, min_periods: int | None = None
) -> pd.DataFrame:
    """For many units at once, each one's last row against its ``window`` rows before it, in
    their standard deviations: what :func:`zscore_flags` says of a unit's last reading,
    vectorised for the apply cycle. ``frame`` is indexed by (unit, time), sorted, a column per
    metric; the result has a row per unit, NaN where fewer than ``min_periods`` (default: all
    ``window``) earlier rows have a value or they do not vary (as ``rolling_zscore``)."""
    if frame.empty:
        return frame.iloc[:0]
    units = frame.index.get_level_values(0)
    last = np.r_[units[1:] != units[:-1], True]
    latest = frame[last].droplevel(1)
    earlier = frame[~last]
    previous = earlier.groupby(level=0, sort=False).tail(window).groupby(level=0, sort=False)
    mean = previous.mean().reindex(latest.index)
    std = previous.std().reindex(latest.index)
    count = previous.count().reindex(latest.index)
    spread = std.where((std > 0) & (count >= (window if min_periods is None else min_periods)))
    return (latest - mean) / spread


def latest_flags(
    frame: pd.DataFrame,
    limits: Mapping[Any, Mapping[str, Mapping[str, float]]],
    *,
    window: int = ZSCORE_WINDOW,
    threshold: float = ZSCORE_THRESHOLD,
    min_periods: int | None = None,
) -> dict[Any, list[Flag]]:
    """The threshold and rolling z-score flags of each unit's last row (``frame`` as for
    :func:`latest_zscores`; ``limits``: a unit's metric → ``warn_low``/``warn_high``). Keyed by
    unit, only units with a flag; each flag's ``row`` is the unit's last time."""
    if frame.empty:
        return {}
    units = frame.index.get_level_values(0)
    last = np.r_[units[1:] != units[:-1], True]
    times = dict(zip(units[last], frame.index.get_level_values(1)[last], strict=True))
    latest = frame[last].droplevel(1)
    z = latest_zscores(frame, window=window, min_periods=min_periods)
    out: dict[Any, list[Flag]] = {}
    rows, cols = np.nonzero(np.abs(np.nan_to_num(z.to_numpy(float), nan=0.0)) > threshold)
    for r, c in zip(rows, cols, strict=True):
        unit, metric = z.index[r], z.columns[c]
        value = float(latest.iat[r, c])
        out.setdefault(unit, []).append(
            Flag(times[unit], metric, "zscore", value, float(z.iat[r, c]))
        )
    for unit, own in limits.items():
        if unit not in latest.index:
            continue
        for metric, limit in own.items():
            if metric not in latest.columns:
                continue
            value = float(latest.at[unit, metric])
            low, high = limit.get("warn_low"), limit.get("warn_high")
            if outside([value], low, high)[0]:
                past = max(
                    value - (high if high is not None else np.inf),
                    (low if low is not None else -np.inf) - value,
                )
                out.setdefault(unit, []).append(
                    Flag(times[unit], metric, "threshold", value, float(past))
                )
    return out


# --- stuck sensors ---------------------------------------------------------------------------

STUCK_READINGS = 3  # a value repeated this many readings in a row (the first one included)


def stuck_runs(
    values: ArrayLike, readings: int = STUCK_READINGS, ignore: Sequence[float] = ()
) -> NDArray[np.int64]:
    """For each reading, how long the run of identical values ending with it is once it is at
    least ``readings`` long (0 otherwise): a live sensor's noise never repeats a value exactly.
    Values in ``ignore`` (a range's end where a reading saturates: a flat battery's 0 %) and NaN
    never count."""
    x = np.asarray(values, dtype=float)
    same = np.zeros(len(x), dtype=bool)
    same[1:] = x[1:] == x[:-1]
    for value in ignore:
        same &= x != value
    # run length: consecutive repeats ending here, plus the run's first reading
    position = np.arange(len(x))
    last_break = np.maximum.accumulate(np.where(~same, position, 0))
    run = position - last_break + 1
    return np.where(same & (run >= readings), run, 0).astype(np.int64)


def stuck_flags(
    frame: pd.DataFrame,
    *,
    readings: int = STUCK_READINGS,
    ignore: Mapping[str, Sequence[float]] | None = None,
) -> list[Flag]:
    """Readings that repeat their metric's value of the previous ``readings - 1`` readings
    exactly (a stuck sensor); ``score`` is the run's length so far. ``ignore``: per metric,
    values a healthy sensor repeats (a saturated range's end)."""
    flags = []
    for metric in frame.columns:
        values = frame[metric].astype(float)
        run = stuck_runs(values, readings, (ignore or {}).get(metric, ()))
        for i in np.flatnonzero(run):
            flags.append(Flag(values.index[i], metric, "stuck", float(values.iloc[i]), run[i]))
    return flags


SATURATED_SHARE = 0.001  # a value normal operation repeats in more of its rows: a range's end


def saturated_values(
    frame: pd.DataFrame, rows: ArrayLike | None = None, *, share: float = SATURATED_SHARE
) -> dict[str, list[float]]:
    """Per metric, the values that repeat the unit's previous row in more than ``share`` of the
    ``rows`` given (normal operation; all by default): the end of a range a healthy reading
    sticks to (a flat battery's 0 %, a full one's 100 %), which a stuck-sensor detector must
    ignore. ``frame``: indexed by (unit, time), sorted, a column per metric."""
    keep = np.ones(len(frame), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    units = frame.index.get_level_values(0).to_numpy()
    same_unit = np.r_[False, units[1:] == units[:-1]]
    out = {}
    for metric in frame.columns:
        values = frame[metric].to_numpy(dtype=float)
        repeated = np.r_[False, values[1:] == values[:-1]] & same_unit & keep
        counts = pd.Series(values[repeated]).value_counts()
        out[str(metric)] = sorted(float(v) for v in counts[counts > share * keep.sum()].index)
    return out


def latest_stuck(
    frame: pd.DataFrame,
    *,
    readings: int = STUCK_READINGS,
    ignore: Mapping[str, Sequence[float]] | None = None,
    step: pd.Timedelta | None = None,
) -> dict[Any, list[Flag]]:
    """For many units at once, the metrics whose last ``readings`` rows hold the very same value
    (a stuck sensor: what :func:`stuck_flags` says of a unit's last reading); values in
    ``ignore`` (per metric, see :func:`saturated_values`) never count. With ``step``, the rows
    must be consecutive (span ``readings - 1`` steps): a unit that was silent in between says
    nothing. ``frame`` as for :func:`latest_zscores`; keyed by unit, only units with a flag;
    ``score``: ``readings``."""
    if frame.empty:
        return {}
    tail = frame.groupby(level=0, sort=False).tail(readings)
    grouped = tail.groupby(level=0, sort=False)
    count = grouped.count()
    stuck = (grouped.nunique() == 1) & (count >= readings)
    last = grouped.last()
    times = pd.Series(tail.index.get_level_values(1), index=tail.index.get_level_values(0))
    by_unit = times.groupby(level=0, sort=False)
    first_time, last_time = by_unit.first(), by_unit.last()
    if step is not None:
        consecutive = (last_time - first_time) == step * (readings - 1)
        stuck = stuck & consecutive.reindex(stuck.index).to_numpy()[:, None]
    out: dict[Any, list[Flag]] = {}
    rows, cols = np.nonzero(stuck.to_numpy())
    for r, c in zip(rows, cols, strict=True):
        unit, metric = stuck.index[r], stuck.columns[c]
        value = float(last.iat[r, c])
        if value in (ignore or {}).get(str(metric), ()):
            continue
        out.setdefault(unit, []).append(
            Flag(last_time.loc[unit], str(metric), "stuck", value, float(readings))
        )
    return out


def spells(
    score: ArrayLike, units: ArrayLike, *, open_level: float = 1.0, clear_level: float = 0.8
) -> NDArray[np.bool_]:
    """Which rows lie in an anomaly spell, as the apply cycle keeps them: a score above
    ``open_level`` opens one (or extends it), a score below ``clear_level`` ends it, a score in
    between leaves it as it is (hysteresis: a score wavering at the limit is one spell, not
    many). Rows grouped by unit, in time order; NaN (not scored) leaves a spell as it is."""
    s = np.asarray(score, dtype=float)
    u = np.asarray(units)
    out = np.zeros(len(s), dtype=bool)
    starts = np.r_[True, u[1:] != u[:-1]] if len(u) else np.zeros(0, dtype=bool)
    inside = False
    for i, (value, new) in enumerate(zip(s.tolist(), starts.tolist(), strict=True)):
        if new:
            inside = False
        if value > open_level:
            inside = True
        elif value < clear_level:
            inside = False
        out[i] = inside
    return out


def held(flags: np.ndarray, device: np.ndarray, minutes: int) -> np.ndarray:
    """Each flag held for ``minutes`` rows of its device (1: unchanged); no look-ahead. Rows are
    grouped by device (a device's rows together, in time order)."""
    if minutes <= 1:
        return flags
    position = np.arange(len(flags))
    starts = np.r_[True, device[1:] != device[:-1]]
    first = np.maximum.accumulate(np.where(starts, position, 0))  # the device's first row
    counts = np.r_[0, np.cumsum(flags.astype(np.int64))]
    low = np.maximum(position - minutes + 1, first)
    return np.asarray(counts[position + 1] - counts[low] > 0)
