"""The simulated plant: physics that hangs together, wear that ends in failure, labels that
match what was injected, and the same data for the same seed. No Django needed."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from simulator import physics
from simulator.fleet import Rates, make_fleet
from simulator.history import generate, simulate

DAY = physics.DAY
START = 1_790_000_000.0  # a Monday morning is not needed: any time works


def one(kind: str, mode: str, seed: int = 7, **rates: float) -> tuple:
    spec = next(s for s in make_fleet(60, seed, kinds=(kind,)) if s.failure_mode == mode)
    return spec, Rates(**rates)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def test_pump_metrics_move_together() -> None:
    spec, rates = one(
        "pump",
        "overheating",
        anomalies_per_day=0,
        outages_per_day=0,
        skews_per_day=0,
        mean_life_days=400,
    )
    h = simulate(spec, START, START + 7 * DAY, 60, rates)
    v = h.values
    assert corr(v["flow"], v["pressure"]) > 0.9  # both follow load
    assert corr(v["current"], v["temperature"]) > 0.7  # load heats the pump
    assert corr(v["flow"], v["current"]) > 0.9
    # shifts: busier by day than by night
    hour = (h.t % DAY) / 3600
    assert v["current"][(hour > 8) & (hour < 20)].mean() > v["current"][hour < 4].mean() + 3


def test_compressor_pressure_raises_temperature() -> None:
    spec, rates = one(
        "compressor",
        "bearing",
        anomalies_per_day=0,
        outages_per_day=0,
        skews_per_day=0,
        mean_life_days=400,
    )
    v = simulate(spec, START, START + 7 * DAY, 60, rates).values
    assert corr(v["pressure"], v["temperature"]) > 0.8


@pytest.mark.parametrize(
    ("kind", "mode", "metric", "direction"),
    [
        ("pump", "bearing", "vibration", 1),
        ("motor", "overheating", "temperature", 1),
        ("pump", "seal_leak", "pressure", -1),
        ("battery sensor", "battery_fade", "battery", -1),
    ],
)
def test_wear_shows_in_its_metric_and_ends_in_failure(
    kind: str, mode: str, metric: str, direction: int
) -> None:
    spec, rates = one(
        kind,
        mode,
        anomalies_per_day=0,
        outages_per_day=0,
        skews_per_day=0,
        mean_life_days=6,
        repair_hours=12,
    )
    spec = replace(spec, life_use=6 * DAY)
    h = simulate(spec, START, START + 20 * DAY, 60, rates)
    assert h.failures, "no failure in 20 days with a 6-day life"
    first_failure = h.failures[0][0]
    # a life of 6 days of use at a use rate between 0.45 and 1.4 per second
    assert 6 / 1.4 * DAY <= first_failure - START <= 6 / 0.45 * DAY
    values = h.values[metric]
    early = values[(h.t < START + DAY)].mean()
    late = values[(h.t > first_failure - DAY / 2) & (h.t < first_failure)].mean()
    assert (late - early) * direction > 0.15 * abs(early)
    # down while being repaired, then reporting again
    failed_at, repaired_at = h.failures[0]
    assert not h.reporting[(h.t >= failed_at) & (h.t < repaired_at)].any()
    assert h.reporting[h.t >= repaired_at + 3600][:10].all()
    # the true RUL counts down to the failure
    before = np.flatnonzero(h.t < failed_at)
    assert h.rul[before[0]] == pytest.approx(failed_at - h.t[before[0]])
    assert not h.censored[before].any()


def test_labels_cover_exactly_what_was_injected() -> None:
    spec, _ = one("motor", "bearing")
    quiet = Rates(anomalies_per_day=0, outages_per_day=0, skews_per_day=0, mean_life_days=400)
    noisy = Rates(anomalies_per_day=12, outages_per_day=3, skews_per_day=2, mean_life_days=400)
    clean = simulate(spec, START, START + 3 * DAY, 30, quiet)
    dirty = simulate(spec, START, START + 3 * DAY, 30, noisy)
    kinds = {e.kind for e in dirty.events}
    assert {"outage", "clock_skew"} <= kinds and len(kinds - {"outage", "clock_skew"}) >= 3
    changed = np.zeros(len(clean.t), dtype=bool)
    for metric in clean.values:
        diff = clean.values[metric] != dirty.values[metric]
        inside = np.zeros(len(clean.t), dtype=bool)
        for e in dirty.events:
            if e.metric == metric:
                inside |= (clean.t >= e.start - 30) & (clean.t <= e.end)
        assert not (diff & ~inside).any(), f"{metric} changed outside its labels"
        changed |= diff
    assert changed.any()
    outage = np.zeros(len(clean.t), dtype=bool)
    skewed = np.zeros(len(clean.t), dtype=bool)
    for e in dirty.events:
        window = (clean.t >= e.start) & (clean.t <= e.end)
        if e.kind == "outage":
            outage |= window
        if e.kind == "clock_skew":
            skewed |= window
    assert np.array_equal(~dirty.reporting, outage)
    assert np.array_equal(dirty.ts != dirty.t, skewed)


def test_same_seed_same_files_other_seed_other_data(tmp_path: Path) -> None:
    rates = Rates(mean_life_days=3)
    outputs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate(
            make_fleet(4, seed, rates),
            tmp_path / name,
            start=START,
            end=START + 4 * DAY,
            interval=120,
            rates=rates,
        )
        outputs.append(
            {
                f: (tmp_path / name / f).read_bytes()
                for f in ("readings.csv", "labels.csv", "failures.csv", "rul.csv", "devices.csv")
            }
        )
    assert outputs[0] == outputs[1]
    assert outputs[0]["readings.csv"] != outputs[2]["readings.csv"]
    lines = outputs[0]["readings.csv"].decode().splitlines()
    assert lines[0].replace('"', "") == "ts,device,metric,value"
    assert len(lines) > 4 * 4 * 720  # 4 devices, >= 4 metrics... minus outages
    assert outputs[0]["failures.csv"].decode().count("\n") > 1  # 3-day lives fail in 4 days
