"""Wear as health indicators: how far each metric has moved from the device's own state at the
start of its life (its first readings, or its first after a repair), with the load taken out.

A metric's residual against a least-squares fit on the other metrics and the time of day, fitted
on new devices (``new_fit``: the first days of each life), moves only with wear: the load moves
all metrics together and the fit follows it. Its rolling median (robust to the faults that come
and go) minus its median over the life's first day is the indicator (``<m>_hi<w>``, for each
window *w* in readings), with its change over the last day (``<m>_dhi``) and the life's age in
hours (``age_h``): a worn bearing's vibration or an overheating motor's temperature says how far
the life has gone, the age how fast it goes. A silence longer than ``GAP`` (a repair) starts a
new life.

Wear that adds to a metric (a bearing's vibration, an overheating motor's temperature) moves the
residual by the same amount at any load. Wear that takes a share off it (a seal leak's flow and
pressure: the pump delivers that much less of what it would) moves it in proportion to the load,
so its medians swing with the shifts and fall at weekends. Given the metrics' levels
(``new_levels``), each metric also has a gain indicator (``<m>%_hi<w>``, ``<m>%_dhi``): the
same from its residual as a share of the value the fit expected (``gain_residuals``), which
such wear moves alike at every load. Pure: arrays and frames in, a frame out; each row sees its
own past only.
"""

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .residuals import RESIDUAL_GAP, segment_starts, time_of_day

GAP = RESIDUAL_GAP
NEW_READINGS = 2880  # a life's first two days of minutes: a new device, for ``new_fit``
BASELINE = 1440  # readings: the life's first day, the indicator's zero
WINDOWS = (60, 240, 720, 1440)  # readings: the rolling medians
MIN_READINGS = 60
GAIN = "%"  # a gain indicator's name: the metric's (metric keys never hold it) with this
GAIN_FLOOR = 0.1  # an expected value under this share of the metric's level reads no gain


def lives(units: ArrayLike, times: ArrayLike, gap: np.timedelta64 = GAP) -> NDArray[np.int64]:
    """Each row's life, numbered from 0: a new unit, or a silence longer than ``gap`` within one
    (rows sorted by unit, then time), starts the next."""
    u = pd.factorize(np.asarray(units))[0]
    start = segment_starts(times, gap)
    new = (start == np.arange(len(u))) | np.r_[True, u[1:] != u[:-1]]
    return np.cumsum(new) - 1


def _design(values: NDArray[np.float64], times: ArrayLike, j: int) -> NDArray[np.float64]:
    return np.c_[np.delete(values, j, axis=1), time_of_day(times), np.ones(len(values))]


def new_fit(values: ArrayLike, times: ArrayLike, rows: ArrayLike) -> list[NDArray[np.float64]]:
    """Per metric (a column of ``values``), least-squares coefficients on the other metrics,
    the time of day and a constant, fitted on ``rows`` (complete, normal, new devices)."""
    x = np.asarray(values, dtype=float)
    keep = np.asarray(rows, dtype=bool) & np.isfinite(x).all(axis=1)
    t = pd.DatetimeIndex(times)[keep]
    out = []
    for j in range(x.shape[1]):
        coef, *_ = np.linalg.lstsq(_design(x[keep], t, j), x[keep, j], rcond=None)
        out.append(coef)
    return out


def epoch_hours(times: ArrayLike) -> NDArray[np.float64]:
    """Times as hours since the epoch (UTC; NaT: NaN)."""
    ns = pd.DatetimeIndex(times)
    if ns.tz is not None:
        ns = ns.tz_convert("UTC").tz_localize(None)
    hours = ns.as_unit("ns").asi8 / 3.6e12
    return np.where(ns.isna(), np.nan, hours).astype(float)


def residuals_of(
    values: ArrayLike, times: ArrayLike, coefficients: Sequence[NDArray[np.float64]]
) -> NDArray[np.float64]:
    """Each metric's residual against the new-device fit (rows x metrics)."""
    x = np.asarray(values, dtype=float)
    return np.column_stack(
        [x[:, j] - _design(x, times, j) @ coefficients[j] for j in range(x.shape[1])]
    )


def new_levels(values: ArrayLike, rows: ArrayLike) -> NDArray[np.float64]:
    """Each metric's level: its median size over ``rows`` (new devices' minutes)."""
    x = np.asarray(values, dtype=float)[np.asarray(rows, dtype=bool)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a metric never reported: NaN
        return np.asarray(np.nanmedian(np.abs(x), axis=0), dtype=float)


def gain_residuals(
    values: ArrayLike, residuals: ArrayLike, levels: ArrayLike
) -> NDArray[np.float64]:
    """Each residual as a share of the value the fit expected (``values`` less ``residuals``);
    NaN where that is under ``GAIN_FLOOR`` of the metric's level (near zero or below it a share
    says nothing)."""
    x, r = np.asarray(values, dtype=float), np.asarray(residuals, dtype=float)
    expected = x - r
    floor = GAIN_FLOOR * np.asarray(levels, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expected > floor, r / expected, np.nan)


def indicator_residuals(
    values: ArrayLike,
    times: ArrayLike,
    coefficients: Sequence[NDArray[np.float64]],
    levels: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """The residuals the indicators are medians of: each metric's (``residuals_of``), then,
    with ``levels``, each one's gain (``gain_residuals``): rows x metrics, or x 2 metrics."""
    r = residuals_of(values, times, coefficients)
    if levels is None:
        return r
    return np.hstack([r, gain_residuals(values, r, levels)])


def indicator_names(metrics: Sequence[str], levels: ArrayLike | None = None) -> list[str]:
    """The names of ``indicator_residuals``' columns."""
    return [*metrics, *([f"{m}{GAIN}" for m in metrics] if levels is not None else [])]


def life_baseline(
    values: ArrayLike,
    times: ArrayLike,
    coefficients: Sequence[NDArray[np.float64]],
    baseline: int = BASELINE,
    levels: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """The indicators' zero of a life from its first rows (``values``, in time order): each
    residual's median (``indicator_residuals``: with ``levels`` the gains' too) over the first
    ``baseline`` rows (NaN skipped), as ``health_indicators`` freezes it; NaN where the rows are
    fewer."""
    r = indicator_residuals(values, times, coefficients, levels)[:baseline]
    if len(r) < baseline:
        return np.full(r.shape[1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a metric never reported: NaN
        return np.asarray(np.nanmedian(r, axis=0), dtype=float)


def _rolling_median(r: pd.Series, life: NDArray[np.int64], w: int) -> NDArray[np.float64]:
    rolled = r.groupby(life, sort=False).rolling(w, min_periods=min(MIN_READINGS, w)).median()
    return rolled.reset_index(level=0, drop=True).sort_index().to_numpy()


AT_BLOCK = 512  # rows a time: ``_median_at`` holds this many x the window


def life_firsts(life: ArrayLike) -> NDArray[np.int64]:
    """Each row's life's first row (its position; each life's rows contiguous)."""
    k = np.asarray(life)
    rows = np.arange(len(k))
    start = np.r_[True, k[1:] != k[:-1]] if len(k) else np.zeros(0, dtype=bool)
    return np.maximum.accumulate(np.where(start, rows, 0)).astype(np.int64)


def _median_at(
    r: NDArray[np.float64], first: NDArray[np.int64], at: NDArray[np.int64], w: int, least: int
) -> NDArray[np.float64]:
    """At the rows ``at`` alone, the median of ``r`` over the last ``w`` rows of the row's life
    up to itself, NaN skipped; NaN where fewer than ``least`` are finite: pandas' rolling median
    (its even count's mean of the middle two included) at those rows, without the others."""
    out = np.full(len(at), np.nan)
    span = np.arange(w)
    for b in range(0, len(at), AT_BLOCK):
        rows = at[b : b + AT_BLOCK]
        lo = np.maximum(rows - w + 1, first[rows])
        index = lo[:, None] + span[None, :]
        block = np.where(index <= rows[:, None], r[np.minimum(index, len(r) - 1)], np.nan)
        block.sort(axis=1)  # NaN last
        count = np.isfinite(block).sum(axis=1)
        k = np.arange(len(rows))
        middle = (block[k, np.maximum(count - 1, 0) // 2] + block[k, count // 2]) / 2
        out[b : b + AT_BLOCK] = np.where(count >= max(least, 1), middle, np.nan)
    return out


def health_indicators(
    values: pd.DataFrame,
    units: ArrayLike,
    times: ArrayLike,
    coefficients: Sequence[NDArray[np.float64]],
    *,
    windows: Sequence[int] = WINDOWS,
    baseline: int = BASELINE,
    gap: np.timedelta64 = GAP,
    life: ArrayLike | None = None,
    born_h: ArrayLike | None = None,
    base: ArrayLike | None = None,
    levels: ArrayLike | None = None,
    at: ArrayLike | None = None,
) -> pd.DataFrame:
    """``age_h`` and, for each metric *m* (``values``' columns, rows sorted by unit then time),
    ``<m>_hi<w>`` for each of ``windows`` and ``<m>_dhi`` (see the module docstring); the
    baseline is the median of the life's first ``baseline`` residuals, of those so far while
    it has fewer (no look-ahead). Indexed like ``values``.

    A caller that knows the lives passes them: ``life`` (each row's life id, instead of the
    silences longer than ``gap``), ``born_h`` (each row's life start in hours since the epoch,
    instead of its life's first row) and ``base`` (rows x ``indicator_names``: the life's
    frozen baseline where finite, for rows whose life began before the rows given: the apply
    cycle's last days of a long life). With the metrics' ``levels`` the gain indicators too.
    ``at``: the positions of the rows wanted (ascending), the others not computed: the same
    figures, indexed like those rows (the apply cycle wants each life's last)."""
    x = values.to_numpy(dtype=float)
    life = lives(units, times, gap) if life is None else np.asarray(life)
    hours = epoch_hours(times)
    if born_h is None:
        born = pd.Series(hours).groupby(life).transform("min").to_numpy()
    else:
        born = np.asarray(born_h, dtype=float)
    residual = indicator_residuals(x, times, coefficients, levels)
    given = np.full(residual.shape, np.nan) if base is None else np.asarray(base, dtype=float)
    names = indicator_names(list(values.columns), levels)
    if at is not None:
        rows = np.asarray(at, dtype=np.int64)
        frame = _indicators_at(residual, given, life_firsts(life), rows, names, windows, baseline)
        frame.insert(0, "age_h", (hours - born)[rows])
        frame.index = values.index[rows]
        return frame
    position = pd.Series(np.ones(len(x))).groupby(life).cumsum().to_numpy() - 1
    out: dict[str, NDArray[np.float64]] = {"age_h": hours - born}
    for j, metric in enumerate(names):
        r = pd.Series(residual[:, j])
        if np.isfinite(given[:, j]).all():  # every row's zero given: nothing to find
            base_j = given[:, j]
        else:
            by = r.groupby(life, sort=False)
            so_far = by.expanding(min_periods=1).median().reset_index(level=0, drop=True)
            so_far = so_far.sort_index().to_numpy()
            settled = pd.Series(np.where(position == baseline - 1, so_far, np.nan))
            frozen = settled.groupby(life).transform("max").to_numpy()
            base_j = np.where(position < baseline, so_far, frozen)
            base_j = np.where(np.isfinite(given[:, j]), given[:, j], base_j)
        for w in windows:
            out[f"{metric}_hi{w}"] = _rolling_median(r, life, w) - base_j
        longest = pd.Series(out[f"{metric}_hi{max(windows)}"])
        out[f"{metric}_dhi"] = (longest - longest.groupby(life).shift(baseline)).to_numpy()
    return pd.DataFrame(out, index=values.index)


def _indicators_at(
    residual: NDArray[np.float64],
    given: NDArray[np.float64],
    first: NDArray[np.int64],
    at: NDArray[np.int64],
    names: Sequence[str],
    windows: Sequence[int],
    baseline: int,
) -> pd.DataFrame:
    """``health_indicators``' columns but ``age_h`` at the rows ``at`` alone: each median
    taken over its window at those rows (and, for the daily change, ``baseline`` rows before
    them), the zero over the life's first rows up to them."""
    earlier = at - baseline
    back = earlier >= first[at]  # the row a day back is in the same life
    both = np.r_[at, earlier[back]]
    position = both - first[both]
    zero_row = first[both] + np.minimum(position, baseline - 1)
    out: dict[str, NDArray[np.float64]] = {}
    for j, metric in enumerate(names):
        r = residual[:, j]
        zero = given[both, j]
        unknown = ~np.isfinite(zero)
        if unknown.any():
            zero[unknown] = _median_at(r, first, zero_row[unknown], baseline, 1)
        for w in windows:
            wanted = at if w != max(windows) else both
            out[f"{metric}_hi{w}"] = (
                _median_at(r, first, wanted, w, min(MIN_READINGS, w)) - zero[: len(wanted)]
            )
        longest = out[f"{metric}_hi{max(windows)}"]
        change = np.full(len(at), np.nan)
        change[back] = longest[len(at) :]
        change = longest[: len(at)] - change
        out[f"{metric}_hi{max(windows)}"] = longest[: len(at)]
        out[f"{metric}_dhi"] = change
    return pd.DataFrame(out)
