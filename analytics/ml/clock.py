"""The plant's week as wear sees it: a use clock.

A machine wears as it works, and a plant works to a weekly calendar: busy day shifts, quieter
nights, quiet weekends. Remaining life counted in wall hours runs at one speed through all of
them, so "40 hours" on a Friday evening means a different amount of use than on a Tuesday
morning. The use clock runs at the type's rate of use in each hour of the week (``Clock.rate``,
mean 1, so a week is 168 clock hours): lives are measured and predicted on it, and a prediction
is turned back into wall hours by walking the calendar forward from now (``Clock.ahead``).

The rate comes from the machines' own signals (``clock_fit``): the first principal component
of each metric's mean in each hour of the week (standardised), which follows the load where
the load moves the metrics, plus a constant share for the wear that runs whatever the load
(``IDLE``). A type whose metrics have no weekly pattern gets a clock as flat as its profile.
Whether the use clock or wall hours serve a type better is chosen on held-out lives
(``lifetime_choice``). Pure: arrays in, arrays out.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .wear import epoch_hours

WEEK = 168
MONDAY_H = 96.0  # hours from the epoch (a Thursday) to Monday 00:00 UTC
# The rate's floor, as a share of the activity's range: wear that runs at idle. Chosen on the
# simulator's training fleet: the best candidate's cross-validated share, averaged over its five
# types, was 76 % at 1.0 and 75 % at 0.5 (pumps preferred 0.5, edge gateways 1.0); 2.0 was lower
# for four of them.
IDLE = 1.0
MIN_HOURS = 24  # hours of the week with readings a profile needs at least


def week_hours(hours: ArrayLike) -> NDArray[np.float64]:
    """Hours since Monday 00:00 UTC of each time given as hours since the epoch."""
    return np.mod(np.asarray(hours, dtype=float) - MONDAY_H, WEEK)


@dataclass(frozen=True)
class Clock:
    """The relative rate of use in each hour of the week from Monday 00:00 UTC (mean 1)."""

    rate: tuple[float, ...]

    @property
    def _knots(self) -> NDArray[np.float64]:
        return np.r_[0.0, np.cumsum(self.rate)]

    def hours(self, wall_h: ArrayLike) -> NDArray[np.float64]:
        """Clock hours since the epoch of wall hours since the epoch (NaN stays NaN)."""
        w = np.asarray(wall_h, dtype=float) - MONDAY_H
        within = np.interp(np.mod(w, WEEK), np.arange(WEEK + 1), self._knots)
        return np.asarray(MONDAY_H + WEEK * np.floor(w / WEEK) + within, dtype=float)

    def wall(self, clock_h: ArrayLike) -> NDArray[np.float64]:
        """The inverse of ``hours``."""
        c = np.asarray(clock_h, dtype=float) - MONDAY_H
        within = np.interp(np.mod(c, WEEK), self._knots, np.arange(WEEK + 1))
        return np.asarray(MONDAY_H + WEEK * np.floor(c / WEEK) + within, dtype=float)

    def ahead(self, now_h: ArrayLike, left: ArrayLike) -> NDArray[np.float64]:
        """Wall hours from ``now_h`` until ``left`` clock hours have run."""
        now = np.asarray(now_h, dtype=float)
        return self.wall(self.hours(now) + np.asarray(left, dtype=float)) - now


def clock_fit(values: pd.DataFrame, idle: float = IDLE) -> Clock | None:
    """A type's use clock from its minutes (index device, minute; a column per metric): the
    weekly profile's first principal component scaled to [0, 1], signed to rise with most
    metrics, plus ``idle``, normalised to mean 1. None (wall hours) when fewer than
    ``MIN_HOURS`` hours of the week have complete readings or no metric varies."""
    x = values.to_numpy(dtype=float)
    complete = np.isfinite(x).all(axis=1)
    x = x[complete]
    spread = x.std(axis=0) if len(x) else np.zeros(x.shape[1])
    varies = spread > 0
    if len(x) == 0 or not varies.any():
        return None
    z = (x[:, varies] - x[:, varies].mean(axis=0)) / spread[varies]
    minute = values.index.get_level_values("minute")[complete]
    hour = week_hours(epoch_hours(minute)).astype(int)
    profile = pd.DataFrame(z).groupby(hour).mean()
    if len(profile) < MIN_HOURS:
        return None
    full = profile.reindex(range(WEEK)).to_numpy()
    full = full - np.nanmean(full, axis=0)
    full = np.where(np.isfinite(full), full, 0.0)  # an hour never seen: the week's mean
    u, s, vt = np.linalg.svd(full, full_matrices=False)
    activity = u[:, 0] * s[0] * (1.0 if vt[0].sum() >= 0 else -1.0)
    low, high = activity.min(), activity.max()
    if not high > low:
        return None
    rate = idle + (activity - low) / (high - low)
    return Clock(tuple(float(r) for r in rate / rate.mean()))
