"""Faults behave the same live and in history: one schedule, one distortion, one label format,
the same for the same seed, each kind within its documented bounds. No Django needed."""

import csv
from pathlib import Path

import numpy as np
import pytest

from simulator import anomalies, physics
from simulator.anomalies import Event
from simulator.fleet import DeviceSpec, Rates, make_fleet
from simulator.history import generate, simulate
from simulator.live import LiveRunner

DAY = physics.DAY
START = 1_790_000_000.0
QUIET = Rates(anomalies_per_day=0, outages_per_day=0, skews_per_day=0, mean_life_days=4000)
BUSY = Rates(anomalies_per_day=24, outages_per_day=4, skews_per_day=3, mean_life_days=4000)


def live_path(
    spec: DeviceSpec, rates: Rates, t: np.ndarray, clean: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[Event]]:
    """Walk the clean readings through ``LiveFaults`` one at a time, as the live runner does."""
    faults = anomalies.LiveFaults(spec, rates)
    values = {m: v.copy() for m, v in clean.items()}
    reporting = np.ones(len(t), dtype=bool)
    ts = t.copy()
    labels: list[Event] = []
    for i, now in enumerate(t):
        events = faults.tick(float(now))
        reading = {m: float(v[i]) for m, v in clean.items()}
        faults.distort(events, reading, float(now))
        for m, v in reading.items():
            values[m][i] = v
        reporting[i] = anomalies.reporting(events, np.array([now]))[0]
        ts[i] = anomalies.reported_times(events, np.array([now]))[0]
        labels += faults.close(float(now))
    return values, reporting, ts, labels + faults.flush()


def test_live_and_history_paths_give_the_same_readings_and_labels() -> None:
    for spec in make_fleet(5, 11, BUSY):
        end = START + 2 * DAY
        clean = simulate(spec, START, end, 60, QUIET)
        history = simulate(spec, START, end, 60, BUSY)
        values, reporting, ts, labels = live_path(spec, BUSY, clean.t, clean.values)
        for metric in clean.values:
            assert np.array_equal(history.values[metric], values[metric]), metric
        assert np.array_equal(history.reporting, reporting)
        assert np.array_equal(history.ts, ts)
        # the history also labels what starts after its last reading, before the range's end
        expected = [e for e in history.events if e.start <= clean.t[-1]]
        assert sorted(labels, key=lambda e: (e.start, e.kind)) == sorted(
            expected, key=lambda e: (e.start, e.kind)
        )
        assert {e.kind for e in labels} >= {"outage", "clock_skew"}


def test_the_live_runner_writes_the_history_files_with_the_same_rows(tmp_path: Path) -> None:
    rates = Rates(anomalies_per_day=24, outages_per_day=4, skews_per_day=3, mean_life_days=4000)
    runner = LiveRunner(
        url="http://127.0.0.1:9",
        tenant_key=None,
        devices=4,
        seed=8,
        interval=60.0,
        state_dir=tmp_path / "live",
        tokens_file=None,
        rates=rates,
        repair_minutes=30,
    )
    (tmp_path / "live").mkdir()
    for device in runner.devices:
        device.use = 0.0
    ticks = START + np.arange(int(DAY // 60)) * 60.0
    for now in ticks:
        runner._readings(float(now))
    runner._labels(float(ticks[-1]), stopping=True)
    # a failure, repaired by a restart
    worn = runner.devices[0]
    worn.use = worn.life_use * 2
    runner._readings(float(ticks[-1] + 60))
    runner.apply_command(worn, "restart", {}, float(ticks[-1] + 90))

    generate(
        make_fleet(4, 8, rates),
        tmp_path / "history",
        start=START,
        end=START + DAY,
        interval=60,
        rates=rates,
    )

    def rows(path: Path) -> list[list[str]]:
        with path.open(newline="") as handle:
            return list(csv.reader(handle))

    live_labels = rows(tmp_path / "live" / "labels.csv")
    history_labels = rows(tmp_path / "history" / "labels.csv")
    assert live_labels[0] == history_labels[0] == list(anomalies.LABEL_COLUMNS)
    assert len(live_labels) > 50
    last_ms = int(ticks[-1] * 1000)  # the history also labels what starts after its last reading
    assert sorted(live_labels[1:]) == sorted(r for r in history_labels[1:] if int(r[3]) <= last_ms)
    assert any(int(r[3]) < START * 1000 for r in live_labels[1:])  # under way at the first tick
    live_failures = rows(tmp_path / "live" / "failures.csv")
    assert live_failures[0] == rows(tmp_path / "history" / "failures.csv")[0]
    assert live_failures[1] == [
        worn.spec.serial,
        worn.spec.failure_mode,
        str(int((ticks[-1] + 60) * 1000)),
        str(int((ticks[-1] + 90) * 1000)),
    ]


def test_a_restart_ends_anomalies_and_outages_and_labels_them_so() -> None:
    spec = make_fleet(1, 3, BUSY)[0]
    faults = anomalies.LiveFaults(spec, BUSY)
    now = START
    while not [e for e in faults.tick(now) if e.kind != "spike"]:
        now += 60
    under_way = [e for e in faults.open if e.end > now + 30]
    assert any(e.kind != "clock_skew" for e in under_way)
    faults.cut(now + 30)
    closed = faults.close(now + 30)
    for event in under_way:
        cut_short = Event(**{**vars(event), "end": now + 30})
        assert (cut_short in closed) == (event.kind != "clock_skew")
    assert all(e.kind == "clock_skew" for e in faults.open)


def test_same_seed_same_schedule_whatever_the_range_other_seed_other_faults() -> None:
    spec, again = make_fleet(3, 5, BUSY)[2], make_fleet(3, 5, BUSY)[2]
    other = make_fleet(3, 6, BUSY)[2]
    whole = anomalies.schedule(spec, START, START + 10 * DAY, BUSY)
    assert whole == anomalies.schedule(again, START, START + 10 * DAY, BUSY)
    assert whole != anomalies.schedule(other, START, START + 10 * DAY, BUSY)
    # a time has the same faults whichever range asks
    part = anomalies.schedule(spec, START + 4 * DAY, START + 5 * DAY, BUSY)
    assert part == [e for e in whole if e.start < START + 5 * DAY and e.end >= START + 4 * DAY]
    # noise: the same draw for a reading time, in a batch or alone
    t = START + np.arange(50) * 10.0
    batch = anomalies.standard_normal(99, t)
    assert np.array_equal(batch, [anomalies.standard_normal(99, np.array([x]))[0] for x in t])
    assert not np.array_equal(batch, anomalies.standard_normal(100, t))


def test_schedule_rates_durations_and_magnitudes_are_as_documented() -> None:
    rates = Rates(anomalies_per_day=6, outages_per_day=2, skews_per_day=1)
    events = [
        e
        for spec in make_fleet(40, 2, rates)
        for e in anomalies.schedule(spec, START, START + 30 * DAY, rates)
    ]
    by_kind: dict[str, list[Event]] = {}
    for e in events:
        by_kind.setdefault(e.kind, []).append(e)
    assert set(by_kind) == set(anomalies.KINDS) | set(anomalies.DEVICE_KINDS)
    device_days = 40 * 30
    metric_events = [e for e in events if e.kind in anomalies.KINDS]
    assert len(metric_events) / device_days == pytest.approx(6, rel=0.1)
    assert len(by_kind["outage"]) / device_days == pytest.approx(2, rel=0.15)
    assert len(by_kind["clock_skew"]) / device_days == pytest.approx(1, rel=0.2)
    for kind, (low, high) in (
        ("level_shift", anomalies.ANOMALY_SECONDS),
        ("drift", anomalies.ANOMALY_SECONDS),
        ("stuck", anomalies.ANOMALY_SECONDS),
        ("noise_burst", anomalies.ANOMALY_SECONDS),
        ("outage", anomalies.OUTAGE_SECONDS),
        ("clock_skew", anomalies.SKEW_SECONDS),
    ):
        lengths = np.array([e.end - e.start for e in by_kind[kind]])
        assert low <= lengths.min() and lengths.max() <= high, kind
        assert lengths.mean() == pytest.approx((low + high) / 2, rel=0.1), kind
    assert all(e.end == e.start for e in by_kind["spike"])
    sizes = np.array([abs(e.magnitude) for e in metric_events])
    assert sizes.min() >= 4 and sizes.max() <= 8
    assert np.mean([e.magnitude > 0 for e in metric_events]) == pytest.approx(0.5, abs=0.05)
    skews = np.array([abs(e.magnitude) for e in by_kind["clock_skew"]])
    assert skews.min() >= 30 and skews.max() <= 240


@pytest.mark.parametrize("magnitude", [4.0, -6.5, 8.0])
@pytest.mark.parametrize("kind", anomalies.KINDS)
def test_each_kind_moves_a_reading_within_its_bounds(kind: str, magnitude: float) -> None:
    t = START + np.arange(600) * 10.0
    rng = np.random.default_rng(1)
    clean = {"vibration": 2.0 + rng.normal(0, 0.2, len(t)), "speed": np.full(len(t), 1200.0)}
    start, end = float(t[100]), float(t[100] if kind == "spike" else t[459])
    event = Event(kind, start, end, "vibration", magnitude, seed=7)
    values = {m: v.copy() for m, v in clean.items()}
    anomalies.apply([event], values, t, device_kind="motor", held={})
    spread = anomalies.SPREAD["motor"]["vibration"]
    diff = (values["vibration"] - clean["vibration"]) / spread
    inside = anomalies.mask(event, t)
    assert np.array_equal(values["speed"], clean["speed"])  # other metrics untouched
    assert not diff[~inside].any()  # nothing outside the window
    d = diff[inside]
    if kind == "spike":
        assert d.tolist() == pytest.approx([magnitude])
    elif kind == "level_shift":
        assert np.allclose(d, 0.5 * magnitude)
    elif kind == "drift":
        assert d[0] == pytest.approx(0) and d[-1] == pytest.approx(magnitude)
        assert np.all(np.diff(d) * np.sign(magnitude) > 0)  # a steady ramp
    elif kind == "stuck":
        assert np.all(values["vibration"][inside] == clean["vibration"][100])
    elif kind == "noise_burst":
        assert d.std() == pytest.approx(abs(magnitude) / 3, rel=0.15)
        assert abs(d.mean()) < abs(magnitude) / 3 * 0.2
    assert np.all(np.abs(d) <= 8 * (1 if kind != "noise_burst" else 5))


def test_device_faults_and_the_label_of_a_reading() -> None:
    t = START + np.arange(100) * 60.0
    outage = Event("outage", float(t[10]), float(t[20]) - 1)
    skew = Event("clock_skew", float(t[30]), float(t[40]), None, -90.0)
    spike = Event("spike", float(t[50]) - 5, float(t[50]) - 5, "flow", 5.0)
    events = anomalies.on_grid([outage, skew, spike], t)
    assert events[2].start == events[2].end == t[50]  # lands on the next reading
    reporting = anomalies.reporting(events, t)
    assert np.flatnonzero(~reporting).tolist() == list(range(10, 20))
    shifted = anomalies.reported_times(events, t) - t
    assert np.flatnonzero(shifted).tolist() == list(range(30, 41))
    assert set(shifted[30:41]) == {-90.0}
    assert anomalies.active(events, float(t[50]), "flow") == [events[2]]
    assert anomalies.active(events, float(t[50]), "pressure") == []
    assert anomalies.active(events, float(t[35]), "pressure") == [skew]
    assert anomalies.active(events, float(t[60])) == []
    assert anomalies.on_grid([Event("spike", float(t[-1]) + 1, float(t[-1]) + 1, "flow")], t) == []


@pytest.mark.parametrize("kind", physics.TYPES)
def test_spreads_match_the_physics(kind: str) -> None:
    assert set(anomalies.SPREAD[kind]) == set(physics.METRICS[kind])
    spec = make_fleet(1, 4, QUIET, kinds=(kind,))[0]
    values = simulate(spec, START, START + 7 * DAY, 60, QUIET).values
    for metric, series in values.items():
        # battery spreads vary with each device's drain and drops; the rest are close
        tolerance = 2.5 if metric == "battery" else 1.25
        ratio = float(np.std(series)) / anomalies.SPREAD[kind][metric]
        assert 1 / tolerance < ratio < tolerance, (metric, ratio)


def test_an_old_headerless_labels_file_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("SIM-PMP-001-0001,spike,flow,1790000000.0,1790000002.5\n")
    runner = LiveRunner(
        url="http://127.0.0.1:9",
        tenant_key=None,
        devices=1,
        seed=1,
        interval=60.0,
        state_dir=tmp_path,
        tokens_file=None,
        rates=BUSY,
    )
    runner._set_aside_old_labels()
    assert (tmp_path / "labels.old.csv").read_text().startswith("SIM-PMP-001-0001,spike")
    assert not (tmp_path / "labels.csv").exists()
    for tick in range(240):
        runner._readings(START + tick * 60.0)
    runner._set_aside_old_labels()  # a file in the shared format stays
    lines = (tmp_path / "labels.csv").read_text().splitlines()
    assert lines[0] == ",".join(anomalies.LABEL_COLUMNS) and len(lines) > 1
