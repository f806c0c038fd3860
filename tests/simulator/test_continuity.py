"""The simulated plant's wear carries over: a live run picks each device up where the history
before it (``make run`` imports one) or the previous run left it, instead of at a new random
wear; a short gap wears on at the average rate, a long stop is an idle plant. No Django."""

import json
import time
from pathlib import Path

import pytest

from simulator import physics, state
from simulator.fleet import Rates, make_fleet
from simulator.history import generate, simulate
from simulator.live import LiveRunner

START = 1_790_000_000.0
QUIET = {"anomalies_per_day": 0, "outages_per_day": 0, "skews_per_day": 0}


def runner(
    state_dir: Path, *, devices: int, seed: int, rates: Rates, time_scale: float = 1.0
) -> LiveRunner:
    return LiveRunner(
        url="http://127.0.0.1:9", tenant_key=None, devices=devices, seed=seed, interval=5.0,
        state_dir=state_dir, tokens_file=None, rates=rates, time_scale=time_scale,
    )  # fmt: skip


def test_a_live_run_continues_the_wear_its_history_ends_with(tmp_path: Path, monkeypatch) -> None:
    rates = Rates(mean_life_days=1.5, **QUIET)  # short lives: some end inside the history
    fleet = make_fleet(12, 3, rates)
    end = START + 2 * physics.DAY
    generate(fleet, tmp_path, start=START, end=end, interval=60, rates=rates, in_service=True)
    histories = {s.serial: simulate(s, START, end, 60, rates, in_service=True) for s in fleet}
    assert any(h.failures for h in histories.values())  # the multi-life path is exercised
    monkeypatch.setattr(time, "time", lambda: end + 120)  # the live run starts 2 minutes later
    live = runner(tmp_path, devices=12, seed=3, rates=rates)
    for device in live.devices:
        h = histories[device.spec.serial]
        assert device.life_use == pytest.approx(h.ended.life_use)
        if h.degradation[-1] == 0 and not h.reporting[-1]:  # down at the end: a new life
            assert device.use == pytest.approx(120 * state.MEAN_USE_RATE)
            continue
        # two more minutes of wear at the average rate, and no step in the degradation
        assert device.use == pytest.approx(h.ended.use + 120 * state.MEAN_USE_RATE)
        joined = (device.use / device.life_use) ** 1.6
        assert joined == pytest.approx(h.degradation[-1], abs=0.01)
        # the battery's age runs on from the life's start (minutes of the last reading)
        assert end + 120 - device.born == pytest.approx(h.ended.age + 120)


def test_a_history_in_service_starts_its_devices_part_worn_as_a_live_run_does(
    tmp_path: Path,
) -> None:
    rates = Rates(mean_life_days=30, **QUIET)
    fleet = make_fleet(6, 5, rates)
    live = runner(tmp_path, devices=6, seed=5, rates=rates)  # nothing saved yet
    for spec, device in zip(fleet, live.devices, strict=True):
        share = state.in_service(spec)
        assert 0 <= share <= state.IN_SERVICE_MAX
        assert device.use == pytest.approx(share * spec.life_use)
        worn = simulate(spec, START, START + 3600, 60, rates, in_service=True)
        new = simulate(spec, START, START + 3600, 60, rates)
        assert worn.degradation[0] == pytest.approx(share**1.6, abs=0.01)
        assert new.degradation[0] < 0.001


def test_a_restarted_run_resumes_a_short_gap_and_an_idle_plant_stays_where_it_was(
    tmp_path: Path, monkeypatch
) -> None:
    rates = Rates(**QUIET)
    clock = [START]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    first = runner(tmp_path, devices=4, seed=9, rates=rates, time_scale=10.0)
    first.devices[0].use = 0.5 * first.devices[0].life_use
    first.devices[0].mode = "overheating"
    first.devices[1].failed_at = START - 30  # failed: it comes back on its next life
    first._save_wear()
    saved = json.loads((tmp_path / state.WEAR_FILE).read_text())
    assert saved["at"] == START and saved["seed"] == 9

    clock[0] = START + 60  # restarted a minute later, ten times faster
    second = runner(tmp_path, devices=4, seed=9, rates=rates, time_scale=10.0)
    d0 = second.devices[0]
    assert d0.use == pytest.approx(0.5 * d0.life_use + 60 * 10 * state.MEAN_USE_RATE)
    assert d0.mode == "overheating"
    assert second.devices[1].use == pytest.approx(600.0) and second.devices[1].failed_at is None
    assert second.devices[2].use == pytest.approx(first.devices[2].use + 600.0)

    clock[0] = START + 5 * 3600  # five hours stopped: the plant stood idle
    idle = runner(tmp_path, devices=4, seed=9, rates=rates, time_scale=10.0)
    assert idle.devices[0].use == pytest.approx(0.5 * idle.devices[0].life_use)
    # another fleet's saved wear is not this one's; nor is an unreadable file anyone's
    other = runner(tmp_path, devices=4, seed=10, rates=rates)
    spec = other.devices[0].spec
    assert other.devices[0].use == pytest.approx(state.in_service(spec) * spec.life_use)
    (tmp_path / state.WEAR_FILE).write_text("{not json")
    fresh = runner(tmp_path, devices=4, seed=9, rates=rates)
    spec = fresh.devices[0].spec
    assert fresh.devices[0].use == pytest.approx(state.in_service(spec) * spec.life_use)
