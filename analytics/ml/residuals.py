"""A device against its own recent behaviour: each metric's residual against a least-squares fit
on the device's other metrics and the time of day over its previous day. The load moves all of
a machine's metrics together and wear moves them slowly, so the fit follows both; a fault moves
one metric away from what the others say, by many of its own noise's sizes.

Two uses of one computation:

- ``residual_scores``: a whole history at once (the evaluations), each row scored by the fit of
  the ``window`` rows before its block of ``block`` rows (the fit is renewed every block);
- ``residual_fit`` and ``residual_latest``: what the apply cycle keeps per device — the fit that
  ``residual_scores`` would apply to the rows after the last one given, stored as plain numbers
  (``ResidualFit``), and each minute's newest readings scored against it, many devices at once.

Pure: arrays in, arrays out.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .detectors import Flag

RESIDUAL_WINDOW = 1440  # readings: a day of minutes, the load's whole cycle
RESIDUAL_BLOCK = 30  # readings: the fit is renewed this often (each row: the fit before it)
RESIDUAL_MIN_ROWS = 60  # readings a fit needs; fewer (a device just back): no score
RESIDUAL_THRESHOLD = 6.0  # |z| beyond which a reading is flagged
RESIDUAL_GAP = np.timedelta64(2, "h")  # a longer silence (a repair) starts the fit afresh
ROBUST_THRESHOLD = 5.0  # first pass: readings this far out are left out of the second's fits
ROBUST_SPREAD = 5  # readings: and so are the few after each
RIDGE = 1e-3  # per reading, on the standardised signals: a steady window stays solvable


def _nanoseconds(times: ArrayLike) -> NDArray[np.int64]:
    """Times (datetimes, tz-aware or not, or datetime64) as nanoseconds since the epoch, UTC."""
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


def segment_starts(times: ArrayLike, gap: np.timedelta64) -> NDArray[np.int64]:
    """Positions of each reading's segment start: a silence longer than ``gap`` starts one."""
    t = _nanoseconds(times)
    limit = int(gap / np.timedelta64(1, "ns"))
    breaks = np.r_[True, np.diff(t) > limit] if len(t) else np.zeros(0, dtype=bool)
    return np.maximum.accumulate(np.where(breaks, np.arange(len(t)), 0))


def time_of_day(times: ArrayLike) -> NDArray[np.float64]:
    """sin and cos of the UTC time of day (the ambient temperature's cycle)."""
    t = _nanoseconds(times)
    angle = 2 * np.pi * ((t // 1_000_000_000) % 86_400) / 86_400
    return np.c_[np.sin(angle), np.cos(angle)]


def _design(xs: NDArray[np.float64], basis: NDArray[np.float64], j: int) -> NDArray[np.float64]:
    """Metric ``j``'s regressors: the other standardised metrics, sin and cos of the time of
    day, a constant."""
    return np.c_[np.delete(xs, j, axis=1), basis]


def _fits(
    y: NDArray[np.float64],
    p: NDArray[np.float64],
    weight: NDArray[np.float64],
    starts: NDArray[np.int64],
    low: NDArray[np.int64],
    min_rows: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weighted ridge least squares of ``y`` on ``p`` over rows ``low[b]`` up to (not
    including) ``starts[b]``, for each b at once (``starts`` may be ``len(y)``: the fit for
    what comes after): coefficients and the residual standard deviation (NaN with fewer than
    ``min_rows`` rows of weight)."""
    k = p.shape[1]
    ok = np.isfinite(y) & np.isfinite(p).all(axis=1)
    w = np.where(ok, weight, 0.0)
    y0 = np.where(ok, y, 0.0)
    p0 = np.where(ok[:, None], p, 0.0)
    wp = p0 * w[:, None]

    if len(starts) == 1:  # one window (the apply cycle's refit): its sums directly
        rows = slice(int(low[0]), int(starts[0]))
        s_pp = (wp[rows].T @ p0[rows])[None]
        s_py = (wp[rows].T @ y0[rows])[None]
        s_yy = np.array([np.dot(w[rows] * y0[rows], y0[rows])])
        count = np.array([w[rows].sum()])
    else:  # a window before each block: running sums, differenced

        def cumulative(a: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.concatenate([np.zeros((1, *a.shape[1:])), np.cumsum(a, axis=0)])

        c_pp = cumulative(wp[:, :, None] * p0[:, None, :])
        c_py = cumulative(wp * y0[:, None])
        c_yy = cumulative(w * y0 * y0)
        c_n = cumulative(w)
        s_pp = c_pp[starts] - c_pp[low]
        s_py = c_py[starts] - c_py[low]
        s_yy = c_yy[starts] - c_yy[low]
        count = c_n[starts] - c_n[low]
    a = s_pp + RIDGE * np.maximum(count, 1.0)[:, None, None] * np.eye(k)
    beta = np.linalg.solve(a, s_py[:, :, None])[:, :, 0]
    rss = s_yy - 2 * (beta * s_py).sum(axis=1) + np.einsum("bi,bij,bj->b", beta, s_pp, beta)
    sd = np.sqrt(np.maximum(rss, 0.0) / np.maximum(count - k, 1.0))
    sd[count < min_rows] = np.nan
    return np.asarray(beta, dtype=np.float64), sd


def _rolling_fit(
    y: NDArray[np.float64],
    p: NDArray[np.float64],
    weight: NDArray[np.float64],
    first: NDArray[np.int64],
    window: int,
    block: int,
    min_rows: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The fit over the ``window`` rows before each block of ``block`` rows (inside the row's
    segment, which starts at ``first``), applied to the block: the prediction and the fit's
    residual standard deviation."""
    row = np.arange(len(y))
    start = first + ((row - first) // block) * block  # each row's block
    starts = np.unique(start)
    beta, sd = _fits(y, p, weight, starts, np.maximum(starts - window, first[starts]), min_rows)
    which = np.searchsorted(starts, start)
    predicted: NDArray[np.float64] = (p * beta[which]).sum(axis=1)
    return predicted, sd[which]


@dataclass
class _Prepared:
    xs: NDArray[np.float64]  # standardised values
    basis: NDArray[np.float64]  # time of day and a constant
    first: NDArray[np.int64]  # each row's segment start
    weight: NDArray[np.float64]  # the second pass's: robust first pass and ``exclude`` out


def _prepare(
    values: ArrayLike,
    times: ArrayLike,
    centre: ArrayLike | None,
    scale: ArrayLike | None,
    window: int,
    block: int,
    min_rows: int,
    gap: np.timedelta64,
    exclude: ArrayLike | None,
) -> _Prepared:
    """Standardise, find the segments and run the first (robust) pass: its readings beyond
    ``ROBUST_THRESHOLD`` and the ``ROBUST_SPREAD`` after each, and the ``exclude`` ones, get
    no weight in the second pass's fits."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 2:
        raise ValueError("values: rows x metrics")
    n = len(x)
    mu = np.nanmean(x, axis=0) if centre is None else np.asarray(centre, dtype=float)
    sc = np.nanstd(x, axis=0) if scale is None else np.asarray(scale, dtype=float)
    sc = np.where(sc > 0, sc, 1.0)
    xs = (x - mu) / sc
    first = segment_starts(times, gap)
    basis = np.c_[time_of_day(times), np.ones(n)]
    skip = np.zeros(n, dtype=bool) if exclude is None else np.asarray(exclude, dtype=bool)
    prepared = _Prepared(xs, basis, first, (~skip).astype(float))
    z = _pass(prepared, window, block, min_rows)
    out = np.nan_to_num(np.abs(z)).max(axis=1) > ROBUST_THRESHOLD
    counts = np.r_[0, np.cumsum(out)]
    spread = counts[np.arange(1, n + 1)] - counts[np.maximum(np.arange(n) - ROBUST_SPREAD, 0)]
    prepared.weight = ((spread == 0) & ~skip).astype(float)
    return prepared


def _pass(prepared: _Prepared, window: int, block: int, min_rows: int) -> NDArray[np.float64]:
    xs = prepared.xs
    z = np.full(xs.shape, np.nan)
    for j in range(xs.shape[1]):
        p = _design(xs, prepared.basis, j)
        predicted, sd = _rolling_fit(
            xs[:, j], p, prepared.weight, prepared.first, window, block, min_rows
        )
        z[:, j] = (xs[:, j] - predicted) / np.maximum(sd, 1e-9)
    return z


def residual_scores(
    values: ArrayLike,
    times: ArrayLike,
    *,
    centre: ArrayLike | None = None,
    scale: ArrayLike | None = None,
    window: int = RESIDUAL_WINDOW,
    block: int = RESIDUAL_BLOCK,
    min_rows: int = RESIDUAL_MIN_ROWS,
    gap: np.timedelta64 = RESIDUAL_GAP,
    exclude: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Signed z of each reading of one device (``values``: rows in time order x metrics, with
    their ``times``): the residual against the fit of the ``window`` readings before its block,
    in that fit's residual standard deviation. Robust: a first pass's readings beyond
    ``ROBUST_THRESHOLD`` (and the ``ROBUST_SPREAD`` after each, and the ``exclude`` ones, e.g.
    stuck) are left out of the second pass's fits. ``centre`` and ``scale`` standardise the
    metrics (only the ridge's weight depends on them); NaN where no fit (a segment's first
    ``min_rows`` readings, a gap longer than ``gap`` starting one)."""
    prepared = _prepare(values, times, centre, scale, window, block, min_rows, gap, exclude)
    return _pass(prepared, window, block, min_rows)


def residual_flags(
    frame: pd.DataFrame,
    *,
    threshold: float = RESIDUAL_THRESHOLD,
    **options: Any,
) -> list[Flag]:
    """Readings of one device (``frame``: a column per metric, a datetime index in time order)
    more than ``threshold`` of their own noise's standard deviations from what the device's
    other metrics and the time of day say (``residual_scores``; ``options`` go to it); one flag
    per reading, for the metric furthest out, ``score`` its signed z."""
    z = residual_scores(frame.to_numpy(dtype=float), frame.index.to_numpy(), **options)
    size = np.nan_to_num(np.abs(z), nan=0.0)
    flags = []
    for i in np.flatnonzero(size.max(axis=1) > threshold) if len(frame) else []:
        j = int(size[i].argmax())
        metric = str(frame.columns[j])
        flags.append(Flag(frame.index[i], metric, "residual", float(frame.iloc[i, j]), z[i, j]))
    return flags


# --- the apply cycle's form: one fit per device, kept, and the newest minute scored ----------


@dataclass(frozen=True)
class ResidualFit:
    """One device's fit, as plain numbers: per metric (in the order of the values' columns),
    the coefficients on the other standardised metrics, sin and cos of the time of day and a
    constant (``coefficients``, metrics x metrics + 2) and the residual standard deviation
    (``sd``, NaN where the fit had too few rows); ``rows`` the readings it had weight on."""

    coefficients: NDArray[np.float64]
    sd: NDArray[np.float64]
    rows: int

    def as_json(self) -> dict[str, Any]:
        """JSON-safe (NaN as null), for a database row: no pickle."""
        return {
            "coefficients": self.coefficients.tolist(),
            "sd": [None if not np.isfinite(s) else float(s) for s in self.sd],
            "rows": self.rows,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ResidualFit":
        return cls(
            np.asarray(data["coefficients"], dtype=float),
            np.array([np.nan if s is None else s for s in data["sd"]], dtype=float),
            int(data["rows"]),
        )


def residual_fit(
    values: ArrayLike,
    times: ArrayLike,
    *,
    centre: ArrayLike,
    scale: ArrayLike,
    window: int = RESIDUAL_WINDOW,
    block: int = RESIDUAL_BLOCK,
    min_rows: int = RESIDUAL_MIN_ROWS,
    gap: np.timedelta64 = RESIDUAL_GAP,
    exclude: ArrayLike | None = None,
) -> ResidualFit | None:
    """The fit ``residual_scores`` would apply to the readings after the last one of
    ``values`` when a block starts there: the second pass's fit over the last ``window``
    readings of the last segment. Given at least ``window`` readings before those (as the
    apply cycle reads), the first pass sees what ``residual_scores`` sees of a whole history.
    None with no readings."""
    prepared = _prepare(values, times, centre, scale, window, block, min_rows, gap, exclude)
    n, m = prepared.xs.shape
    if n == 0:
        return None
    end = np.array([n])
    low = np.array([max(n - window, int(prepared.first[-1]))])
    coefficients = np.empty((m, m + 2))
    sd = np.empty(m)
    for j in range(m):
        p = _design(prepared.xs, prepared.basis, j)
        beta, spread = _fits(prepared.xs[:, j], p, prepared.weight, end, low, min_rows)
        coefficients[j], sd[j] = beta[0], spread[0]
    return ResidualFit(coefficients, sd, int(prepared.weight[low[0] :].sum()))


def residual_latest(
    values: ArrayLike,
    times: ArrayLike,
    fits: Sequence[ResidualFit],
    *,
    centre: ArrayLike,
    scale: ArrayLike,
) -> NDArray[np.float64]:
    """Signed z of many devices' newest readings at once (``values``: a row per device, with
    its time and its ``ResidualFit``), as ``residual_scores`` scores a row in the block after
    the fit; NaN where a metric or one of its regressors is missing or the fit had too few
    rows."""
    x = np.asarray(values, dtype=float)
    if len(fits) != len(x):
        raise ValueError("one fit per row")
    if not len(x):
        return np.zeros((0, x.shape[1] if x.ndim == 2 else 0))
    sc = np.asarray(scale, dtype=float)
    xs = (x - np.asarray(centre, dtype=float)) / np.where(sc > 0, sc, 1.0)
    basis = np.c_[time_of_day(times), np.ones(len(x))]
    coefficients = np.stack([f.coefficients for f in fits])
    sd = np.stack([f.sd for f in fits])
    z = np.empty(x.shape)
    for j in range(x.shape[1]):
        predicted = (_design(xs, basis, j) * coefficients[:, j, :]).sum(axis=1)
        z[:, j] = (xs[:, j] - predicted) / np.maximum(sd[:, j], 1e-9)
    return z
