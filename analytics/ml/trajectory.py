"""Remaining useful life by degradation-trajectory extrapolation: where a device's health
indicators stand now against the paths that training lives took to their failure.

Wear grows with use, so each health indicator (``wear.health_indicators``: a metric's departure
from its level at the start of the life, the load taken out) follows a path from 0 at the
start of a life to the level it reached at the failure. Each failure mode moves its own metrics,
to much the same levels at every failure, along a power law in the life's elapsed share:
``h(t) = L * (t / T) ** p``. From each complete training life (its failure seen) ``trajectory_fit``
keeps, per metric, the level at the failure ``L`` and the exponent ``p`` (a least-squares line in
log-log over the life's later part); nothing of the generating process is assumed beyond a power
law.

At a row (``project``), for each library life: the share of its life the device has used,
``f = (h / L) ** (1 / p)`` from each of the life's clear metrics (weighted by their size against
the noise), the mismatch of the whole indicator vector against that life's path at ``f`` (a
device on another failure mode's path matches badly), and the failure age ``t / f``. The closest
lives' median failure age less the age is the projected RUL. The indicator is a rolling median
over ``window`` readings: it stands for the age half a window back, which ``lag_h`` corrects.

Where wear takes a share off a metric rather than adding to it (a seal leak's flow: its
departure at any hour is as large as the load then), the path follows the indicator's gain, its
departure as a share of the value expected, and the departure itself swings with the load. Given
both forms, each training life is read in the one its path follows the more smoothly, and a row
is compared with each life in that life's form.

Each metric counts in a life in the larger of its noise scale (measured at the start of the
lives, where wear has barely begun) and how far that life wandered about its path in it
(``_wander``): wear can carry into a metric with the load (a seal leak into a pump's current,
fitted on the flow it drained), a swing the start of a life never shows.

Needs only the current indicators and the life's age per row (state the platform keeps: the
life's start, its first day's baseline, the last day's minutes). Pure: arrays in, arrays out.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

SIGNIFICANT = 8.0  # an end level this many noise scales from 0: the metric moved in that life
LATE = 0.3  # the exponent's fit: the life's part past this share (earlier, the path is noise)
EARLY = 0.25  # the noise scale: the life's part before this share (wear barely begun)
FLOOR = 0.02  # … and where the indicator is past this share of its end level
NEIGHBOURS = 3  # the closest library lives whose failure ages are pooled (median)
CLOSE = 2.0  # … of those, the ones within this factor of the best's mismatch (plus 1)
CHUNK = 50_000


@dataclass
class Trajectories:
    """The library: per training life (rows) and metric (columns), the indicator's level at the
    failure and its power-law exponent in the life's elapsed share (NaN: no clear path), the
    life's id (a row of the caller's can leave its own life out) and each metric's noise
    scale."""

    ends: NDArray[np.float64]
    exponents: NDArray[np.float64]
    ids: NDArray[np.int64]
    scale: NDArray[np.float64]
    # Given the gains too (``trajectory_fit``): the lives read on them, and their noise scale.
    # None: a library of one form (or stored before there were two).
    gains: NDArray[np.bool_] | None = None
    gain_scale: NDArray[np.float64] | None = None
    # Per life and metric, how far the life's indicator wandered about its path (``_wander``),
    # its noise scale where larger. None: stored before it was kept (the metrics' scale alone).
    wander: NDArray[np.float64] | None = None

    @property
    def reads_gains(self) -> bool:
        return self.gains is not None and bool(self.gains.any())


def _end_level(h: NDArray[np.float64], tail: int) -> NDArray[np.float64]:
    """Per metric, the median of a life's last ``tail`` indicator values."""
    return np.asarray(np.nanmedian(h[-tail:], axis=0), dtype=float)


def trajectory_fit(
    indicators: ArrayLike,
    age_h: ArrayLike,
    life: ArrayLike,
    failure_age_h: ArrayLike,
    *,
    lag_h: float = 0.0,
    tail: int = 60,
    gains: ArrayLike | None = None,
) -> Trajectories:
    """The library from the rows of training lives: ``indicators`` (rows, metrics), each row's
    age in its life, its life's id and the age at which the life failed (NaN: censored, left
    out). The end level is the median of a life's last ``tail`` rows; the noise scale of a
    metric, the median over lives of its indicator's spread (median absolute deviation) over
    the life's first part, where wear has barely begun, about a straight line.

    With ``gains`` (the same rows' gain indicators, ``wear.gain_residuals``' medians) each life
    is read in the form its path follows the more smoothly (``_roughness``): the departures
    where its wear adds to the metrics (an overheating's degrees, whatever the load), the
    gains where it takes a share off them (a seal leak's flow: its departure swings with the
    load, its share does not)."""
    forms = [np.asarray(indicators, dtype=float)]
    if gains is not None:
        forms.append(np.asarray(gains, dtype=float))
    age = np.asarray(age_h, dtype=float) - lag_h
    ids = np.asarray(life)
    failed = np.asarray(failure_age_h, dtype=float)
    fits: list[list[tuple[NDArray[np.float64], ...]]] = [[] for _ in forms]
    chosen, kept, wanders = [], [], []
    for k in np.unique(ids):
        rows = ids == k
        total = failed[rows][0]
        if not np.isfinite(total) or rows.sum() < 2 * tail:
            continue
        share = age[rows] / total
        roughness, wander = [], []
        for h, fitted in zip(forms, fits, strict=True):
            own = h[rows]
            exponent, level = _power_law(own, share, _end_level(own, tail))
            fitted.append((_noise(own[share < EARLY], age[rows][share < EARLY]), exponent, level))
            wander.append(_wander(own, share, exponent, level))
            roughness.append(_roughness(wander[-1], exponent, level))
        chosen.append(int(np.argmin(np.nan_to_num(roughness, nan=np.inf))))
        wanders.append(wander[chosen[-1]])
        kept.append(k)
    if not kept:
        raise ValueError("no complete life to learn trajectories from")
    scales = []
    for fitted in fits:
        scale = np.nanmedian(np.array([f[0] for f in fitted]), axis=0)
        scales.append(np.where(np.isfinite(scale) & (scale > 0), scale, 1.0))
    form = np.array(chosen)
    end = np.array([fits[c][i][2] for i, c in enumerate(form)])
    exponent = np.array([fits[c][i][1] for i, c in enumerate(form)])
    exponent[np.abs(end) < SIGNIFICANT * np.array(scales)[form]] = np.nan
    lives = np.array(kept, dtype=np.int64)
    if gains is None:
        return Trajectories(end, exponent, lives, scales[0], wander=np.array(wanders))
    return Trajectories(
        end, exponent, lives, scales[0], form == 1, scales[1], wander=np.array(wanders)
    )


def _wander(
    h: NDArray[np.float64],
    share: NDArray[np.float64],
    exponent: NDArray[np.float64],
    level: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Per metric, the median absolute departure of a life's indicator from its path over the
    life's later part (no clear path: the straight line to its end level, as ``project``
    reads it); NaN where the part has no values. A metric its wear carries in with the load
    (a seal leak's current, fitted on the flow it lost) wanders far more than its noise at the
    start of the life says: it counts for as little as it follows its path."""
    late = (share > LATE) & (share < 1)
    p = np.where(np.isfinite(exponent), exponent, 1.0)
    path = level[None] * share[late, None] ** p[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a metric without values: NaN
        return np.asarray(np.nanmedian(np.abs(h[late] - path), axis=0), dtype=float)


def _roughness(
    wander: NDArray[np.float64], exponent: NDArray[np.float64], level: NDArray[np.float64]
) -> float:
    """How far a life's indicators wander about their power-law paths over its later part
    (``_wander``): per metric with a path, its wander as a share of its level at the failure;
    the median of those (NaN: no metric has a path, or the part has no values)."""
    clear = np.isfinite(exponent) & (level != 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nothing to take the median of: NaN
        return float(np.nanmedian(wander[clear] / np.abs(level[clear])))


def _noise(h: NDArray[np.float64], age: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per metric, the median absolute deviation of ``h`` from its least-squares line in age
    (NaN: too few readings)."""
    out = np.full(h.shape[1], np.nan)
    for j in range(h.shape[1]):
        keep = np.isfinite(h[:, j])
        if keep.sum() >= 20:
            line = np.polyval(np.polyfit(age[keep], h[keep, j], 1), age[keep])
            out[j] = np.median(np.abs(h[keep, j] - line))
    return out


def _power_law(
    h: NDArray[np.float64], share: NDArray[np.float64], end: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per metric, log|h| against log(share) over the life's later part, a least-squares line:
    its slope is the exponent, its value at share 1 the level at the failure (the last rows'
    median ``end`` lags it: a rolling median stands half a window back). NaN exponent and the
    ``end`` level where the path is too short to fit."""
    exponent = np.full(h.shape[1], np.nan)
    level = end.copy()
    for j in range(h.shape[1]):
        ratio = h[:, j] / end[j] if end[j] != 0 else np.full(len(h), np.nan)
        keep = (share > LATE) & (share < 1) & np.isfinite(ratio) & (ratio > FLOOR)
        if keep.sum() >= 20:
            slope, intercept = np.polyfit(np.log(share[keep]), np.log(ratio[keep]), 1)
            exponent[j], level[j] = slope, end[j] * np.exp(intercept)
    return exponent, level


@dataclass
class Projection:
    """Per row: the projected failure age and RUL (hours), the closest life's mismatch (noise
    scales per metric, root mean square) and the elapsed share of life."""

    failure_age_h: NDArray[np.float64]
    rul_h: NDArray[np.float64]
    mismatch: NDArray[np.float64]
    share: NDArray[np.float64]


def project(
    library: Trajectories,
    indicators: ArrayLike,
    age_h: ArrayLike,
    *,
    lag_h: float = 0.0,
    own_life: ArrayLike | None = None,
    neighbours: int = NEIGHBOURS,
    gains: ArrayLike | None = None,
) -> Projection:
    """Each row's projection against the library (see the module docstring); ``own_life``
    (each row's life id) leaves a training row's own life out of its library; ``gains``: the
    rows' gain indicators, which the library's lives read on them compare (``reads_gains``;
    ValueError without them). NaN where the indicators are missing or no library life fits."""
    h = np.asarray(indicators, dtype=float)
    if library.reads_gains and gains is None:
        raise ValueError("the library reads gain indicators: give them")
    g = np.asarray(gains, dtype=float) if library.reads_gains else h
    age = np.asarray(age_h, dtype=float)
    own = np.asarray(own_life) if own_life is not None else np.full(len(h), -1)
    parts = [
        _project(
            library,
            h[i : i + CHUNK],
            g[i : i + CHUNK],
            age[i : i + CHUNK],
            lag_h,
            own[i : i + CHUNK],
            neighbours,
        )
        for i in range(0, len(h), CHUNK)
    ]
    if not parts:
        empty = np.zeros(0)
        return Projection(empty, empty, empty, empty)
    failure, mismatch, share = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return Projection(failure, failure - age, mismatch, share)


def _project(
    library: Trajectories,
    h: NDArray[np.float64],
    gains: NDArray[np.float64],
    age: NDArray[np.float64],
    lag_h: float,
    own: NDArray[np.int64],
    neighbours: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    value = h[:, None, :]  # rows, lives (each life's form), metrics
    scale = np.broadcast_to(library.scale[None], library.ends.shape)  # lives, metrics
    if library.reads_gains:
        assert library.gains is not None and library.gain_scale is not None
        value = np.where(library.gains[None, :, None], gains[:, None, :], value)
        scale = np.where(library.gains[:, None], library.gain_scale[None], scale)
    if library.wander is not None:
        scale = np.fmax(scale, library.wander)
    z = value / scale[None]
    end = library.ends / scale  # lives, metrics
    clear = np.isfinite(library.exponents)
    p = np.where(clear, library.exponents, 1.0)
    weight = np.where(clear, np.abs(end), 0.0)  # lives, metrics
    # each life's elapsed share from each of its clear metrics, then their weighted mean
    ratio = np.clip(z / np.where(end == 0, np.nan, end)[None], 1e-6, 2.0)
    with np.errstate(over="ignore"):  # a tiny exponent: inf, then not usable
        per_metric = ratio ** (1.0 / p[None])
    usable = np.isfinite(per_metric) & (weight[None] > 0)
    total = np.where(usable, weight[None], 0.0).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row without indicators: NaN
        f = np.where(usable, per_metric * weight[None], 0.0).sum(axis=2) / total  # rows, lives
        # the path of every metric of the life at that share (no clear path: its end level)
        path = np.where(
            clear[None], end[None] * f[:, :, None] ** p[None], end[None] * f[:, :, None]
        )
        mismatch = np.sqrt(np.nanmean((z - path) ** 2, axis=2))
    mismatch[(total == 0) | ~np.isfinite(f) | (f <= 0) | (own[:, None] == library.ids[None])] = (
        np.inf
    )
    order = np.argsort(mismatch, axis=1)[:, :neighbours]
    rows = np.arange(len(h))[:, None]
    best = mismatch[rows, order]
    centre = np.maximum(age - lag_h, 1e-3)
    with np.errstate(over="ignore", divide="ignore"):  # a share near 0: a far failure, unused
        failure = centre[:, None] / f[rows, order]
    close = np.isfinite(best) & (best <= CLOSE * best[:, :1] + 1.0)  # not another mode's path
    failure = np.where(close, failure, np.nan)
    with warnings.catch_warnings():  # a row no life fits: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.nanmedian(failure, axis=1)
        share = np.nanmedian(np.where(close, f[rows, order], np.nan), axis=1)
    return out, np.where(np.isfinite(best[:, 0]), best[:, 0], np.nan), share
