"""Faults: what goes wrong with a device, when, by how much, and the labels that say so.

One module for both paths, so a detector trained on a generated history meets the same faults on
the live plant: ``history`` applies a device's whole schedule to its arrays at once, ``live`` walks
the same schedule a reading at a time (``LiveFaults``) through the same functions.

Kinds. Metric anomalies (one metric of one device): ``spike`` (one reading), ``level_shift``,
``drift`` (a ramp from nothing to the full magnitude at the end), ``stuck`` (the value of the
window's first reading, held) and ``noise_burst``. Device faults: ``outage`` (no readings) and
``clock_skew`` (timestamps off by the magnitude, seconds).

Magnitudes, in *spreads*: a metric's spread (``SPREAD``) is its standard deviation over a week of
normal operation of a new device (shifts, load wander and noise), so a magnitude means the same
on a 400 V voltage as on a 0.3 mm/s vibration. A metric anomaly draws 4-8 spreads, either sign;
a spike adds all of it, a level shift half, a drift reaches all of it at the end, a noise burst
adds Gaussian noise of a third of it (sigma 1.3-2.7 spreads). A clock skew is 30-240 s either way.

Durations: anomalies 300-3,600 s (a spike: one reading), outages 60-1,800 s, clock skews
1,800-7,200 s, all uniform. Rates (per device and day) come from ``fleet.Rates``.

Why these: they are the history generator's, which the detectors train on. The live runner's old
figures were tied to its 5 s tick (a 120 s window is two readings at the history's 60 s interval,
hardly more than a spike) and to the reading's own size (a scale of 5 % of the value plus 0.5, so
a voltage shift was 80-160 V while a pump's flow shift stayed inside its daily swing; spikes were
twice that, level shifts the whole of it, noise bursts a half). The history's per-series standard
deviation became a fixed table, the only form a reading-at-a-time path can share, and noise
bursts draw their noise from the event and the reading time, so both paths give the very same
values.

Schedule: each device's events are drawn a UTC day at a time from the fleet seed, the device's
index and the day, so a time has the same faults whichever path or range asks. Labels keep the
scheduled windows (a window may start before or end after the generated range); a spike's label
is the reading it lands on, the first at or after its instant.
"""

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .fleet import DeviceSpec, Rates
from .physics import DAY

Array = NDArray[Any]

KINDS = ("spike", "level_shift", "drift", "stuck", "noise_burst")
DEVICE_KINDS = ("outage", "clock_skew")
MAGNITUDE = (4.0, 8.0)  # spreads, either sign
SHIFT_SHARE = 0.5  # a level shift moves by half the magnitude
NOISE_SHARE = 1 / 3  # a noise burst's sigma, as a share of the magnitude
ANOMALY_SECONDS = (300.0, 3600.0)
OUTAGE_SECONDS = (60.0, 1800.0)
SKEW_SECONDS = (1800.0, 7200.0)
SKEW_SHIFT = (30.0, 240.0)  # seconds, either sign
LONGEST = max(ANOMALY_SECONDS[1], OUTAGE_SECONDS[1], SKEW_SECONDS[1])

# Standard deviation of each metric over a week of a new device's normal operation (median of
# twelve devices, 60 s readings), two significant figures.
SPREAD: dict[str, dict[str, float]] = {
    "pump": {"temperature": 11, "vibration": 0.6, "pressure": 2.3, "flow": 30, "current": 6.6},
    "motor": {"temperature": 17, "vibration": 0.27, "speed": 250, "current": 11, "voltage": 2.0},
    "compressor": {"temperature": 11, "pressure": 1.2, "vibration": 0.56, "current": 12},
    "edge gateway": {"cpu_usage": 16, "temperature": 5.8, "battery": 3.3},
    "battery sensor": {"temperature": 2.8, "battery": 3.7},
}

LABEL_COLUMNS = ("device", "kind", "metric", "start_ms", "end_ms", "magnitude")
FAILURE_COLUMNS = ("device", "failure_mode", "failed_at_ms", "repaired_at_ms")

_STREAM = 0xFA17


@dataclass(frozen=True)
class Event:
    """A labelled fault (``metric`` None: the whole device, e.g. an outage). ``seed`` keys a
    noise burst's noise."""

    kind: str
    start: float
    end: float
    metric: str | None = None
    magnitude: float = 0.0
    seed: int = 0


def _day(spec: DeviceSpec, rates: Rates, day: int) -> list[Event]:
    """The events that start on one UTC day (``day`` counts from the epoch), sorted by start."""
    rng = np.random.default_rng([spec.seed, spec.index, _STREAM, day])
    begin = day * DAY
    events: list[Event] = []
    for _ in range(int(rng.poisson(rates.anomalies_per_day))):
        kind = str(rng.choice(KINDS))
        at = begin + float(rng.uniform(0, DAY))
        length = 0.0 if kind == "spike" else float(rng.uniform(*ANOMALY_SECONDS))
        events.append(
            Event(
                kind,
                at,
                at + length,
                str(rng.choice(spec.metrics)),
                float(rng.uniform(*MAGNITUDE) * rng.choice([-1, 1])),
                int(rng.integers(1 << 62)),
            )
        )
    for _ in range(int(rng.poisson(rates.outages_per_day))):
        at = begin + float(rng.uniform(0, DAY))
        events.append(Event("outage", at, at + float(rng.uniform(*OUTAGE_SECONDS))))
    for _ in range(int(rng.poisson(rates.skews_per_day))):
        at = begin + float(rng.uniform(0, DAY))
        end = at + float(rng.uniform(*SKEW_SECONDS))
        shift = float(rng.uniform(*SKEW_SHIFT) * rng.choice([-1, 1]))
        events.append(Event("clock_skew", at, end, None, shift))
    return sorted(events, key=lambda e: e.start)


class Schedule:
    """One device's faults over any stretch of time, drawn a day at a time (the last few kept)."""

    def __init__(self, spec: DeviceSpec, rates: Rates):
        self.spec = spec
        self.rates = rates
        self._days: dict[int, list[Event]] = {}

    def day(self, day: int) -> list[Event]:
        """The events that start on one UTC day (counted from the epoch), sorted by start."""
        if day not in self._days:
            if len(self._days) >= 4:
                del self._days[min(self._days)]
            self._days[day] = _day(self.spec, self.rates, day)
        return self._days[day]

    def _events(self, first: float, last: float) -> list[Event]:
        out: list[Event] = []
        for day in range(int(first // DAY), int(last // DAY) + 1):
            out.extend(self.day(day))
        return out

    def overlapping(self, start: float, end: float) -> list[Event]:
        """Events whose window meets [start, end], sorted by start."""
        return [e for e in self._events(start - LONGEST, end) if e.start <= end and e.end >= start]

    def starting(self, after: float, until: float) -> list[Event]:
        """Events that start in (after, until], sorted by start."""
        return [e for e in self._events(after, until) if after < e.start <= until]


def schedule(spec: DeviceSpec, start: float, end: float, rates: Rates) -> list[Event]:
    """Every fault of one device whose window meets [start, end), sorted by start."""
    return [e for e in Schedule(spec, rates).overlapping(start, end) if e.start < end]


def on_grid(events: Iterable[Event], t: Array) -> list[Event]:
    """The events as readings at times ``t`` (ascending) see them: a spike moves to the first
    reading at or after its instant, and is dropped when there is none."""
    out = []
    for event in events:
        if event.kind == "spike":
            index = int(np.searchsorted(t, event.start))
            if index >= len(t):
                continue
            event = replace(event, start=float(t[index]), end=float(t[index]))
        out.append(event)
    return out


def mask(event: Event, t: Array) -> Array:
    """Which readings (times ``t``) the event covers: its window, both ends included."""
    return (t >= event.start) & (t <= event.end)


def _mix(x: Array) -> Array:
    """splitmix64's finaliser: a well-spread 64-bit hash, vectorised."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def standard_normal(seed: int, t: Array) -> Array:
    """Standard normal noise that depends only on ``seed`` and the reading times (ms), so a
    reading gets the same draw whichever path computes it and in whatever batch."""
    ms = np.round(np.atleast_1d(np.asarray(t, dtype=np.float64)) * 1000).astype(np.uint64)
    first = _mix(ms ^ np.uint64(seed))
    second = _mix(first ^ np.uint64(0x5DEECE66D))
    u1 = ((first >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = ((second >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    return np.asarray(np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2))


def distort(event: Event, values: Array, t: Array, *, spread: float, held: float) -> Array:
    """The readings ``values`` at times ``t``, all inside the event's window, as the anomaly
    leaves them. ``held`` is the window's first reading (what a stuck sensor repeats)."""
    size = event.magnitude * spread
    if event.kind == "spike":
        return values + size
    if event.kind == "level_shift":
        return values + SHIFT_SHARE * size
    if event.kind == "drift":
        return values + size * (t - event.start) / max(event.end - event.start, 1.0)
    if event.kind == "stuck":
        return np.full_like(values, held)
    if event.kind == "noise_burst":
        return values + standard_normal(event.seed, t) * abs(size) * NOISE_SHARE
    raise ValueError(f"not a metric anomaly: {event.kind!r}")


def apply(
    events: Iterable[Event],
    values: dict[str, Array],
    t: Array,
    *,
    device_kind: str,
    held: dict[tuple[str, float], float],
) -> None:
    """Inject the metric anomalies among ``events`` into ``values`` (per metric, over times
    ``t``), in place and in order. ``held`` remembers each stuck sensor's value across calls
    (keyed by metric and start); pass a new dict to start afresh."""
    for event in events:
        if event.metric is None:
            continue
        covered = mask(event, t)
        if not covered.any():
            continue
        series = values[event.metric]
        first = held.setdefault(
            (event.metric, event.start), float(series[np.flatnonzero(covered)[0]])
        )
        series[covered] = distort(
            event,
            series[covered],
            t[covered],
            spread=SPREAD[device_kind][event.metric],
            held=first,
        )


def reporting(events: Iterable[Event], t: Array) -> Array:
    """False for the readings an outage swallows."""
    out = np.ones(len(t), dtype=bool)
    for event in events:
        if event.kind == "outage":
            out &= ~mask(event, t)
    return out


def reported_times(events: Iterable[Event], t: Array) -> Array:
    """The times the device's clock gives its readings (clock skews applied)."""
    ts = np.array(t, dtype=np.float64)
    for event in events:
        if event.kind == "clock_skew":
            ts[mask(event, t)] += event.magnitude
    return ts


def active(events: Iterable[Event], at: float, metric: str | None = None) -> list[Event]:
    """The label of a reading: the events covering time ``at`` (on ``metric``, when given)."""
    return [
        e
        for e in events
        if e.start <= at <= e.end and (metric is None or e.metric in (None, metric))
    ]


def label_row(serial: str, event: Event) -> list[Any]:
    """One ``labels.csv`` row (``LABEL_COLUMNS``)."""
    return [
        serial,
        event.kind,
        event.metric or "",
        int(event.start * 1000),
        int(event.end * 1000),
        round(event.magnitude, 3),
    ]


def failure_row(
    serial: str, failure_mode: str, failed_at: float, repaired_at: float | None
) -> list[Any]:
    """One ``failures.csv`` row (``FAILURE_COLUMNS``); no repair time: still down at the end."""
    return [
        serial,
        failure_mode,
        int(failed_at * 1000),
        "" if repaired_at is None else int(repaired_at * 1000),
    ]


class LiveFaults:
    """The live path: one device's faults, a reading time at a time.

    ``tick(now)`` at every tick of the runner (also while the device is down, as the history's
    grid goes on): it takes in the events that began since the last tick (a spike lands on this
    tick) and returns those covering ``now``. ``close(now)`` hands back the events that are over,
    for their labels; ``cut(now)`` ends the metric anomalies and outages early (a restart).
    """

    def __init__(self, spec: DeviceSpec, rates: Rates):
        self.schedule = Schedule(spec, rates)
        self.kind = spec.kind
        self.open: list[Event] = []
        self.held: dict[tuple[str, float], float] = {}
        # events not yet begun, of the days up to ``loaded``, in order (``Schedule.starting``
        # with a pointer: a tick of ten thousand devices must stay cheap)
        self.upcoming: deque[Event] = deque()
        self.loaded: int | None = None

    def tick(self, now: float) -> list[Event]:
        if self.loaded is None:  # the first tick: what is under way counts too
            fresh = self.schedule.overlapping(now, now)
            self.loaded = int(now // DAY)
            self.upcoming.extend(e for e in self.schedule.day(self.loaded) if e.start > now)
        else:
            while (self.loaded + 1) * DAY <= now:
                self.loaded += 1
                self.upcoming.extend(self.schedule.day(self.loaded))
            fresh = []
            while self.upcoming and self.upcoming[0].start <= now:
                fresh.append(self.upcoming.popleft())
        if fresh:
            self.open.extend(on_grid(fresh, np.array([now])))
        return active(self.open, now) if self.open else []

    def distort(self, events: Iterable[Event], reading: dict[str, float], now: float) -> None:
        """Apply the metric anomalies to one reading, in place."""
        arrays = {m: np.array([v]) for m, v in reading.items()}
        apply(events, arrays, np.array([now]), device_kind=self.kind, held=self.held)
        reading.update({m: float(a[0]) for m, a in arrays.items()})

    def close(self, now: float) -> list[Event]:
        if not self.open:
            return []
        done = [e for e in self.open if e.end <= now]
        if done:
            self.open = [e for e in self.open if e.end > now]
            for event in done:
                self.held.pop((event.metric or "", event.start), None)
        return done

    def cut(self, now: float) -> None:
        self.open = [
            e if e.kind == "clock_skew" or e.end <= now else replace(e, end=now) for e in self.open
        ]

    def flush(self) -> list[Event]:
        """Everything still open (the run stops): labelled with the scheduled ends."""
        done, self.open = self.open, []
        self.held.clear()
        return done
