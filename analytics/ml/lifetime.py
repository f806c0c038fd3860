"""Remaining useful life from a device's current life: what the platform trains and applies and
the simulator evaluation measures, one code path.

A life runs from the device's first reading, or its last repair, to its next failure
(``lives_of``, from the recorded failures). Each minute's features (``life_features``): rolling
window features of the device's signals (``features.window_features`` over ``WINDOWS``) and
the life's health indicators (``wear.health_indicators``: each metric's residual against the
new devices' fit, its rolling medians less the life's first-day median, their daily change,
the life's age). The candidates (``CANDIDATES``), chosen on held-out lives
(``lifetime_choice.lifetime_choose``):

- ``window``: gradient boosting on the window features, on hours capped at the knee;
- ``wear`` / ``both``: on the indicators alone or with the window features, on log(1 + hours)
  (a relative error, as ±15 % is);
- ``trajectory``: the half-day indicators' power-law path to the closest training lives'
  failure levels (``trajectory.project``; each life's path in its indicators or their gains,
  ``projection.library_fit``), the knee where no life fits;
- ``wear+trajectory``: boosting on the indicators and the projection;

each with its lives counted in wall hours or on the type's use clock (``clock.py``).
``LifetimeModel`` is the fitted candidate with everything it needs to predict from a device's
recent minutes (the new-device coefficients, the trajectory library, the interval's bands).
Pure: frames and arrays in, arrays out.
"""

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from . import rul, trajectory, wear
from .clock import Clock, week_hours
from .features import EWM_ALPHA, window_features
from .projection import PROJECTED, PROJECTION, library_fit, with_projection

# Lives are about 720 h (the longest about twice that): the last 20 % of a life is under 300 h
# for nearly all of them, and 300 h before failure wear is about 0.6^1.6 = 44 % of its final
# size, so the metrics still say something. Earlier, nothing does: capped.
KNEE_HOURS = 300.0
WINDOWS = (60, 360, 1440)  # minutes: an hour, a shift, a day (the load's cycle)
# Readings: the rolling median the trajectory reads. Half a day: in the simulator training
# fleet's cross-validation on the use clock it beat a day (the load's cycle: less ripple, but
# 12 h of lag) for pumps, compressors and motors (+3, +4 and +1 points), not for edge gateways
# (-3); 4 hours scored the same as half a day over pumps, compressors and edge gateways.
DAY_PROJECTED = 1440  # what versions trained before it was recorded in the model read
# Rows: a window feature's reach back — the longest window, and the exponential mean's, whose
# weight (1 - alpha)^n falls under a float's resolution by then (0.9^400 = 5e-19).
WINDOW_TAIL = max(*WINDOWS, int(np.ceil(np.log(1e-18) / np.log(1 - EWM_ALPHA))))
TRAIN_EVERY = 10  # minutes: neighbouring minutes say nearly the same, every tenth trains
VALIDATION_EVERY = 30  # minutes: the candidates' fits on the first 70 % take every thirtieth
FOLDS = 3  # groups of failed lives the candidates are cross-validated over
LAST_SHARE = 0.2  # the share of each life's end that is measured
TOLERANCE = 0.15
PARAMS = rul.CANDIDATES[0]
CANDIDATES = ("window", "wear", "both", "trajectory", "wear+trajectory")
FALLBACK = "both"  # chosen when no held-out life ends in the range
MIN_NEW_ROWS = 60  # complete minutes of new devices the coefficients need at least
ROBUST_Z = 3.5  # robust standard deviations: a new device's minute further out is left out …
ROBUST_PASSES = 2  # … of the fit, refitted this many times
# The interval's bands by range of the predicted hours: near failure, mid-life, at the knee.
BAND_EDGES = (100.0, 200.0)


@dataclass
class Lives:
    """Per row: its life's id (-1: in no life — down for repair, after a failure not yet
    repaired, or a life that began before the rows read), the life's start and failure (hours
    since the epoch; NaN: not failed yet) and the row's own time."""

    life: NDArray[np.int64]
    born_h: NDArray[np.float64]
    failed_h: NDArray[np.float64]
    now_h: NDArray[np.float64]

    @property
    def hours_left(self) -> NDArray[np.float64]:
        return self.failed_h - self.now_h

    @property
    def failure_age_h(self) -> NDArray[np.float64]:
        return self.failed_h - self.born_h

    @property
    def age_h(self) -> NDArray[np.float64]:
        return self.now_h - self.born_h

    def on(self, clock: Clock | None) -> "Lives":
        """The same lives with their times on ``clock`` (None: wall hours, as they are)."""
        if clock is None:
            return self
        return Lives(
            self.life, clock.hours(self.born_h), clock.hours(self.failed_h), clock.hours(self.now_h)
        )


def hours_of(at: datetime) -> float:
    """A time as hours since the epoch, as ``wear.epoch_hours`` gives them."""
    return float(pd.Timestamp(at).value / 3.6e12)


def lives_of(
    device: ArrayLike,
    minute: ArrayLike,
    failures: pd.DataFrame,
    *,
    first: Mapping[Any, datetime] | None = None,
    since: datetime | None = None,
) -> Lives:
    """The lives of rows sorted by device then minute, from ``failures`` (``device``,
    ``failed_at``, ``repaired_at``; NaT: not repaired): a device's first life starts at its
    first reading (``first[device]``, else its first row), each next one at a repair. Lives
    that began before ``since`` (their first day was not read) are left out (-1)."""
    devices = np.asarray(device)
    now = wear.epoch_hours(minute)
    n = len(devices)
    life = np.full(n, -1, dtype=np.int64)
    born = np.full(n, np.nan)
    failed = np.full(n, np.nan)
    floor = -np.inf if since is None else hours_of(since)
    by_device = (
        {d: rows for d, rows in failures.groupby("device", sort=False)} if len(failures) else {}
    )
    bounds = np.flatnonzero(np.r_[True, devices[1:] != devices[:-1], True]) if n else [0]
    number = 0
    for lo, hi in itertools.pairwise(int(b) for b in bounds):
        d = devices[lo]
        start = first.get(d) if first else None
        start_h = hours_of(start) if start is not None else now[lo]
        own = by_device.get(d)
        fail_h = np.array([], dtype=float)
        repair_h = np.array([], dtype=float)
        if own is not None:
            own = own.sort_values("failed_at")
            fail_h = wear.epoch_hours(pd.to_datetime(own["failed_at"], utc=True))
            repair_h = wear.epoch_hours(pd.to_datetime(own["repaired_at"], utc=True))
        starts = np.r_[start_h, repair_h]
        ends = np.r_[fail_h, np.inf]
        t = now[lo:hi]
        for k in range(len(starts)):
            if not np.isfinite(starts[k]):
                break  # a failure not repaired: no life after it
            inside = (t >= starts[k]) & (t < ends[k])
            if starts[k] >= floor and inside.any():
                life[lo:hi][inside] = number
                born[lo:hi][inside] = starts[k]
                failed[lo:hi][inside] = ends[k] if np.isfinite(ends[k]) else np.nan
            number += 1
    return Lives(life, born, failed, now)


def _new_rows(values: pd.DataFrame, lives: Lives) -> NDArray[np.bool_]:
    """The complete rows of each life's first two days: new devices."""
    position = pd.Series(lives.life).groupby(lives.life).cumcount().to_numpy()
    rows = (lives.life >= 0) & (position < wear.NEW_READINGS)
    return np.asarray(rows & values.notna().all(axis=1).to_numpy(), dtype=bool)


def new_device_levels(values: pd.DataFrame, lives: Lives) -> NDArray[np.float64]:
    """The metrics' levels on new devices (``wear.new_levels``), the gain indicators' floor."""
    return wear.new_levels(values.to_numpy(dtype=float), _new_rows(values, lives))


def new_device_fit(values: pd.DataFrame, lives: Lives) -> list[NDArray[np.float64]]:
    """The new-device coefficients (``wear.new_fit``) from the complete rows of each life's
    first two days, robustly: refitted ``ROBUST_PASSES`` times without the rows where a
    metric's residual is more than ``ROBUST_Z`` robust standard deviations (1.4826 median
    absolute deviations) from its median. Nobody labels a new device's spikes, level shifts,
    drifts and stuck sensors; fitted on them, the coefficients carry their load into every
    indicator (on the simulator, the edge gateways' trajectory fell from 57 % of minutes
    within ±15 % to 8 %). ValueError when there are too few rows."""
    rows = _new_rows(values, lives)
    if rows.sum() < MIN_NEW_ROWS:
        raise ValueError(
            f"{int(rows.sum())} complete minutes of new devices, {MIN_NEW_ROWS} needed"
        )
    x = values.to_numpy(dtype=float)
    times = values.index.get_level_values("minute")
    keep = rows
    for _ in range(ROBUST_PASSES):
        residual = wear.residuals_of(x, times, wear.new_fit(x, times, keep))
        centre = np.median(residual[keep], axis=0)
        spread = 1.4826 * np.median(np.abs(residual[keep] - centre), axis=0)
        z = np.abs(residual - centre) / np.where(spread > 0, spread, np.inf)
        with np.errstate(invalid="ignore"):  # incomplete rows: NaN, never inside
            inside = rows & (z < ROBUST_Z).all(axis=1)
        if inside.sum() < MIN_NEW_ROWS:
            break
        keep = inside
    return wear.new_fit(x, times, keep)


def life_features(
    values: pd.DataFrame,
    lives: Lives,
    coefficients: list[NDArray[np.float64]],
    *,
    base: ArrayLike | None = None,
    window: bool = True,
    windows: Sequence[int] = wear.WINDOWS,
    levels: ArrayLike | None = None,
    at: ArrayLike | None = None,
) -> pd.DataFrame:
    """Window features (``<s>``, ``<s>_m<w>``, ``<s>_sl<w>``, ``<s>_ewm``) and health
    indicators of ``values`` (index device, minute, sorted; a column per metric), both per
    life: a repaired machine's windows start afresh. ``base``: the lives' frozen baselines
    where known (``wear.health_indicators``). Indexed like ``values``. A model
    that needs fewer (``LifetimeModel.parts``) leaves out the window features (``window``)
    or some of the indicators' rolling medians (``windows``; none: no indicators). With the
    metrics' ``levels`` (``new_device_levels``) the gain indicators too. ``at``: the positions
    of the rows wanted (ascending; the apply cycle's each life's last), the same figures
    computed for those rows alone."""
    rows = np.arange(len(values)) if at is None else np.asarray(at, dtype=np.int64)
    if window:
        features = _window_features(values, lives.life, rows if at is not None else None)
    else:
        features = pd.DataFrame(index=values.index[rows])
    if not windows:
        return features
    indicators = wear.health_indicators(
        values,
        values.index.get_level_values("device"),
        values.index.get_level_values("minute"),
        coefficients,
        windows=windows,
        life=lives.life,
        born_h=lives.born_h,
        base=base,
        levels=levels,
        at=at,
    )
    # The hour of the week (Monday 00:00 UTC = 0): a plant's calendar (quieter nights and
    # weekends) sets how fast its use, so its wear, runs in the hours ahead.
    indicators["week_h"] = week_hours(lives.now_h[rows])
    return pd.concat([features, indicators], axis=1)


def _window_features(
    values: pd.DataFrame, life: NDArray[np.int64], at: NDArray[np.int64] | None
) -> pd.DataFrame:
    """``life_features``' window features, of every row or of the rows ``at`` alone: those
    from the last ``WINDOW_TAIL`` rows of each one's life (its windows' and its exponential
    mean's reach), each run of them a unit of its own."""
    metrics = list(values.columns)
    unit = life
    if at is not None:
        reach = np.maximum(at - WINDOW_TAIL + 1, wear.life_firsts(life)[at])
        marks = np.zeros(len(values) + 1, dtype=np.int64)
        np.add.at(marks, reach, 1)
        np.add.at(marks, at + 1, -1)
        kept = np.flatnonzero(np.cumsum(marks[:-1]) > 0)
        values = values.iloc[kept]
        run = np.ones(len(kept), dtype=bool)
        run[1:] = (np.diff(kept) != 1) | (life[kept][1:] != life[kept][:-1])
        unit = np.cumsum(run)
    x = values.reset_index()
    x["minute"] = x["minute"].astype("int64")
    x["_life"] = unit
    features = window_features(
        x, unit="_life", order="minute", signals=metrics, windows=WINDOWS, expanding=False
    ).loc[x.index]
    features.index = values.index
    return features if at is None else features.iloc[np.searchsorted(kept, at)]


def on_clock(features: pd.DataFrame, clock: Clock | None) -> pd.DataFrame:
    """``features`` (``life_features``: the life's age in wall hours) with the age on
    ``clock``, as a model on that clock reads them (None: as they are). Features without the
    age (the window candidate's own: it never reads it) are the same on any clock."""
    if clock is None or "age_h" not in features:
        return features
    now = wear.epoch_hours(features.index.get_level_values("minute"))
    age = features["age_h"].to_numpy(dtype=float)
    return features.assign(age_h=clock.hours(now) - clock.hours(now - age))


def window_columns(features: pd.DataFrame) -> list[str]:
    """The signals and their window features (not the life's age, indicators or projection)."""
    return [
        c
        for c in features.columns
        if c not in ("minute", "age_h", "week_h")
        and not c.endswith(("_exp", "_dhi"))
        and "_hi" not in c
        and not c.startswith("proj_")
    ]


def wear_columns(features: pd.DataFrame) -> list[str]:
    """The health indicators: the life's age and each metric's departure from its start."""
    return [
        c for c in features.columns if c in ("age_h", "week_h") or c.endswith("_dhi") or "_hi" in c
    ]


def candidate_columns(features: pd.DataFrame, name: str) -> list[str]:
    windowed, indicators = window_columns(features), wear_columns(features)
    return {
        "window": windowed,
        "wear": indicators,
        "both": windowed + indicators,
        "wear+trajectory": indicators + list(PROJECTION),
    }[name]


def lifetime_target(
    lives: Lives, end_h: float, knee: float = KNEE_HOURS
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Hours left capped at the knee, and which rows know it: a life not failed by ``end_h``
    (the end of the rows read) gives a lower bound, exact once capped only when it is already
    past the knee; rows in no life know nothing."""
    hours = np.where(np.isfinite(lives.failed_h), lives.hours_left, end_h - lives.now_h)
    known = (lives.life >= 0) & (np.isfinite(lives.failed_h) | (hours >= knee))
    return np.minimum(hours, knee), known


@dataclass
class LifetimeModel:
    """A fitted candidate: the metrics in order, the new-device coefficients the indicators are
    measured against, the trajectory library (None: the candidate needs none), the boosting
    model (None: the trajectory alone), whether it predicts log(1 + hours), the knee, the
    interval's bands (from held-out lives), the clock its lives are measured on (None: wall
    hours; ``clock.Clock``: the plant's use clock, its predictions turned back into wall hours
    from each row's time) and the indicators' median its trajectory reads (a version stored
    before either was a field unpickles with wall hours and the day-long median it read)."""

    name: str
    metrics: list[str]
    coefficients: list[NDArray[np.float64]]
    library: trajectory.Trajectories | None
    regressor: rul.RULModel | None
    log: bool
    knee: float = KNEE_HOURS
    bands: rul.ConformalBands | None = field(default=None)
    clock: Clock | None = None
    projected: int = DAY_PROJECTED  # the indicators' median the trajectory reads, in minutes
    levels: NDArray[np.float64] | None = None  # with the gain indicators: the metrics' levels

    @property
    def indicators(self) -> list[str]:
        """What a life's frozen baseline (``wear.life_baseline``) holds for it, in order: each
        metric's residual, then with ``levels`` each one's gain (``wear.GAIN`` appended)."""
        return wear.indicator_names(self.metrics, self.levels)

    @property
    def baseline_size(self) -> int:
        return len(self.indicators)

    @property
    def history_readings(self) -> int:
        """The readings of its life a minute's features need before it, at most (the daily
        change reads the day-long median a day back; the trajectory its own median)."""
        return (
            2 * wear.BASELINE
            if self.name in ("wear", "both", "wear+trajectory")
            else self.projected
        )

    @property
    def parts(self) -> dict[str, Any]:
        """The ``life_features`` its candidate reads: the window features or not, and the
        indicators' rolling medians (the trajectory reads its own one alone)."""
        return {
            "window": self.name in ("window", "both"),
            "windows": {"window": (), "trajectory": (self.projected,)}.get(self.name, wear.WINDOWS),
            "levels": self.levels,
        }

    def point(self, features: pd.DataFrame, own_life: ArrayLike | None = None) -> NDArray:
        """Hours left at each row of ``features`` (``life_features``; index device, minute).
        Projection columns already present are taken as on this model's clock."""
        features = on_clock(features, self.clock)
        if self.library is not None and "proj_rul" not in features:
            features = with_projection(
                features, self.metrics, self.library, own_life, window=self.projected
            )
        if self.regressor is None:
            # Capped at the knee, as the boosted candidates' target is: a path that has hardly
            # risen yet projects a failure far beyond anything the indicators can tell.
            projected = np.nan_to_num(features["proj_rul"].to_numpy(dtype=float), nan=self.knee)
            left = np.clip(projected, 0, self.knee)
        else:
            point = self.regressor.predict(features).point
            left = np.expm1(point) if self.log else point
        if self.clock is None:
            return np.asarray(left)
        now = wear.epoch_hours(features.index.get_level_values("minute"))
        return np.clip(self.clock.ahead(now, left), 0, None)

    def predict(self, features: pd.DataFrame) -> rul.RULPrediction:
        """The point and its interval (the bands; the point itself without them)."""
        point = self.point(features)
        if self.bands is None:
            return rul.RULPrediction(point, point, point)
        low, high = self.bands.interval(point)
        return rul.RULPrediction(
            point, np.minimum(np.clip(low, 0, None), point), np.maximum(high, point)
        )


def lifetime_fit(
    features: pd.DataFrame,
    metrics: list[str],
    coefficients: list[NDArray[np.float64]],
    lives: Lives,
    name: str,
    *,
    end_h: float,
    every: int,
    rows: ArrayLike | None = None,
    library: trajectory.Trajectories | None = None,
    clock: Clock | None = None,
    levels: NDArray[np.float64] | None = None,
) -> LifetimeModel:
    """Candidate ``name`` fitted on every ``every``-th known row (of ``rows``), its lives
    measured on ``clock`` (None: wall hours; ``features`` and ``lives`` are on wall hours
    either way); the trajectory candidates use ``library`` (on that clock; fitted on the lives
    within ``rows`` when not given). ``levels``: the metrics' levels ``features`` read their
    gain indicators with (None: they have none), kept by a candidate that reads indicators (the
    trajectory: where its library reads gains)."""
    needs_library = name in ("trajectory", "wear+trajectory")
    features, lives = on_clock(features, clock), lives.on(clock)
    end_h = float(clock.hours(end_h)) if clock is not None else end_h
    if needs_library and library is None:
        library = library_fit(features, metrics, lives, rows)
    if name == "trajectory":
        levels = levels if library is not None and library.reads_gains else None
        return LifetimeModel(
            name,
            metrics,
            coefficients,
            library,
            None,
            True,
            clock=clock,
            projected=PROJECTED,
            levels=levels,
        )
    if name == "wear+trajectory" and "proj_rul" not in features:
        features = with_projection(features, metrics, library, own_life=lives.life)
    target, known = lifetime_target(lives, end_h)
    keep = known & (np.arange(len(target)) % every == 0)
    keep &= features[window_columns(features)].notna().all(axis=1).to_numpy()
    if rows is not None:
        keep &= np.asarray(rows, dtype=bool)
    log = name != "window"
    y = np.log1p(target[keep]) if log else target[keep]
    # A column with no value in the rows fitted (the daily change, where no life lasted a
    # day) says nothing and is left out.
    columns = [c for c in candidate_columns(features, name) if features.loc[keep, c].notna().any()]
    regressor = rul.rul_fit(features[keep], pd.Series(y), PARAMS, columns=columns, interval=False)
    return LifetimeModel(
        name,
        metrics,
        coefficients,
        library if needs_library else None,
        regressor,
        log=log,
        clock=clock,
        projected=PROJECTED,
        levels=levels if name != "window" else None,
    )
