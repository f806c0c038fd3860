"""When a metric rule's alarm opens and clears, from a device's readings as they arrive: the
pure core of the rule evaluator (no ORM, no Redis: points and the state kept between batches in,
steps out).

- **threshold**: the metric past its level (``above``/``below``) for ``duration_seconds``
  without a break opens the alarm; it clears once a reading is back past the clear level (on the
  safe side of the threshold; none: the threshold itself). Between the two — the hysteresis band —
  an active alarm stays and a pending one starts its wait again, so a signal hovering at the
  level makes one alarm, not one per crossing.
- **rate**: the metric rising (``above``) or dropping (``below``) by more than the threshold
  within ``window_seconds`` (against the window's lowest or highest reading); it clears when the
  change over the window is back within the clear level.
- **zscore**: a reading more than the threshold standard deviations from the previous
  ``window_count`` readings (their mean and sample deviation: the definition the explorer and
  the analytics detectors share, ``telemetry.analysis.rolling_zscore``), held for the duration;
  it clears once |z| is back within the clear level. Until there are ``window_count`` earlier
  readings, or while they do not vary, a reading says nothing.

Steps come in time order: each opening and each clearing, and at the end of a batch in which the
alarm is active, one ``update`` with the last reading past the level (its last value and time;
the alarm counts openings, not readings). Readings no newer than the last one seen are ignored
(a retried upload repeats nothing)."""

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["threshold", "rate", "zscore"]
Action = Literal["raise", "clear", "update"]


@dataclass(frozen=True)
class Condition:
    """A metric rule's parameters (``models.AlertRule``'s, for the kinds evaluated here)."""

    kind: Kind
    direction: Literal["above", "below"]
    threshold: float
    clear_threshold: float | None = None
    duration_seconds: float = 0.0
    window_seconds: float = 0.0
    window_count: int = 20

    def past(self, value: float) -> bool:
        """The level passed (for rate: the change; for zscore: |z|)."""
        if self.kind == "zscore":
            return abs(value) > self.threshold
        if self.kind == "rate" or self.direction == "above":
            return value > self.threshold
        return value < self.threshold

    def back(self, value: float) -> bool:
        """Back on the safe side of the clear level (for rate: the change within it)."""
        if self.clear_threshold is None:
            return not self.past(value)
        if self.kind == "zscore":
            return abs(value) <= self.clear_threshold
        if self.kind == "rate" or self.direction == "above":
            return value <= self.clear_threshold
        return value >= self.clear_threshold


@dataclass
class State:
    """What is kept of a (device, rule) between batches: the last reading seen, since when the
    condition has held (None: it does not), whether its alarm is active, and for a rate the
    readings within its window (time, value)."""

    seen: float | None = None
    since: float | None = None
    active: bool = False
    window: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """Open the alarm, clear it, or update its last value and time, at ``at`` (epoch seconds)
    with ``value`` (the reading; for a rate, the change)."""

    action: Action
    at: float
    value: float


def _change(condition: Condition, state: State, at: float, value: float) -> float:
    """The rate's change at ``at``: from the window's lowest (rising) or highest (dropping)
    reading to this one; the window keeps the readings of the last ``window_seconds``."""
    state.window = [(t, v) for t, v in state.window if t >= at - condition.window_seconds]
    state.window.append((at, value))
    values = [v for _, v in state.window]
    return value - min(values) if condition.direction == "above" else max(values) - value


def _zscore(condition: Condition, state: State, at: float, value: float) -> float | None:
    """The reading's z-score against the previous ``window_count`` readings (None: too few, or
    they do not vary); the window keeps the last ``window_count``."""
    previous = [v for _, v in state.window]
    state.window = [*state.window, (at, value)][-condition.window_count :]
    if len(previous) < condition.window_count:
        return None
    spread = statistics.stdev(previous)
    if spread <= 0:
        return None
    return (value - statistics.fmean(previous)) / spread


def evaluate(
    condition: Condition, state: State, points: Iterable[tuple[float, float]]
) -> list[Step]:
    """The steps that ``points`` (time in epoch seconds, value), the device's new readings of
    the rule's metric, give; ``state`` is updated in place."""
    steps: list[Step] = []
    latest: Step | None = None  # the last reading past the level while the alarm is active
    for at, raw in sorted(points):
        if state.seen is not None and at <= state.seen:
            continue
        state.seen = at
        if condition.kind == "zscore":
            z = _zscore(condition, state, at, raw)
            if z is None:
                continue
            value = z
        elif condition.kind == "rate":
            value = _change(condition, state, at, raw)
        else:
            value = raw
        if condition.past(value):
            if state.since is None:
                state.since = at
            if state.active:
                latest = Step("update", at, value)
            elif at - state.since >= condition.duration_seconds:
                state.active = True
                steps.append(Step("raise", at, value))
        else:
            state.since = None
            if state.active and condition.back(value):
                state.active, latest = False, None
                steps.append(Step("clear", at, value))
    if latest is not None:
        steps.append(latest)
    return steps
