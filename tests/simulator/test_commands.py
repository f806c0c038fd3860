"""The simulated devices obey commands: restart clears a failure, set_config changes the
reporting interval and the configuration they report."""

import json
import time
from pathlib import Path

from simulator.fleet import Rates
from simulator.live import LiveRunner


def runner(tmp_path: Path, devices: int = 3) -> LiveRunner:
    return LiveRunner(
        url="http://127.0.0.1:9",
        tenant_key=None,
        devices=devices,
        seed=1,
        interval=1.0,
        state_dir=tmp_path,
        tokens_file=None,
        rates=Rates(anomalies_per_day=0, outages_per_day=0, skews_per_day=0),
    )


def reporting(r: LiveRunner, now: float) -> set[str]:
    return {serial for serial, _ in r._readings(now)}


def test_restart_clears_a_failure_and_eases_wear(tmp_path: Path) -> None:
    r = runner(tmp_path)
    device = r.devices[0]
    device.use = device.life_use * 2  # worn out: fails at the next tick
    now = time.time()
    assert device.spec.serial not in reporting(r, now)
    assert device.failed_at == now
    assert device.spec.serial not in reporting(r, now + 1)  # still down
    answer = r.apply_command(device, "restart", {}, now + 2)
    assert answer["ok"] and answer["was_failed"]
    assert device.failed_at is None and device.use < device.life_use * 1.3
    device.use = 0.0
    assert device.spec.serial in reporting(r, now + 3)


def test_set_config_changes_the_reporting_interval(tmp_path: Path) -> None:
    r = runner(tmp_path)
    slow, fast = r.devices[0], r.devices[1]
    answer = r.apply_command(
        slow,
        "set_config",
        {"interval_seconds": 5, "thresholds": {"temperature": {"warn_high": 80}}},
        time.time(),
    )
    assert answer["config"] == {
        "interval_seconds": 5,
        "thresholds": {"temperature": {"warn_high": 80}},
    }
    start = time.time()
    counts = {slow.spec.serial: 0, fast.spec.serial: 0}
    for tick in range(20):
        for serial in reporting(r, start + tick):
            if serial in counts:
                counts[serial] += 1
    assert counts[fast.spec.serial] == 20
    assert counts[slow.spec.serial] == 4  # every 5 s over 20 s


def test_unknown_command_is_answered_with_an_error(tmp_path: Path) -> None:
    r = runner(tmp_path)
    assert "error" in r.apply_command(r.devices[0], "self_destruct", {}, time.time())


def test_a_wear_fault_brings_the_failure_near_and_an_anomaly_distorts_a_metric(
    tmp_path: Path,
) -> None:
    from simulator import anomalies

    r = runner(tmp_path, devices=12)  # the fleet's mix: pumps among them
    pump = next(d for d in r.devices if d.spec.kind == "pump")
    now = time.time()
    answer = r.apply_command(pump, "simulate", {"fault": "overheating"}, now)
    assert answer == {"ok": True, "fault": "overheating", "wear": 0.75}
    assert pump.mode == "overheating" and pump.use == 0.75 * pump.life_use
    refused = r.apply_command(pump, "simulate", {"fault": "battery_fade"}, now)
    assert refused == {"error": "a pump does not fail by battery_fade"}
    assert "error" in r.apply_command(pump, "simulate", {"fault": "meltdown"}, now)

    def flow(at: float) -> float:
        body = dict(r._readings(at))[pump.spec.serial]
        return float(json.loads(body)["values"]["flow"])

    calm = flow(now + 1)
    spiked = r.apply_command(pump, "simulate", {"fault": "spike", "metric": "flow"}, now + 2)
    assert spiked["ok"] and spiked["metric"] == "flow"
    jump = flow(now + 2) - calm
    assert jump > 4 * anomalies.SPREAD["pump"]["flow"]  # six spreads, less the load's wander
    assert abs(flow(now + 4) - calm) < 2 * anomalies.SPREAD["pump"]["flow"]  # one reading only
    stuck = r.apply_command(pump, "simulate", {"fault": "stuck", "minutes": 5}, now + 5)
    assert stuck["metric"] == "temperature" and stuck["until_ms"] == int((now + 305) * 1000)


def test_the_status_lists_the_devices_nearest_to_failing_with_their_faults(
    tmp_path: Path,
) -> None:
    from simulator.state import device_states

    r = runner(tmp_path, devices=12)
    now = time.time()
    pump = next(d for d in r.devices if d.spec.kind == "pump")
    r.apply_command(pump, "simulate", {"fault": "bearing"}, now)
    r.apply_command(pump, "simulate", {"fault": "drift", "metric": "flow", "minutes": 5}, now)
    states = device_states(r.devices, now + 1, limit=3)
    assert len(states) == 3
    first = states[0]
    assert (first["serial"], first["mode"], first["wear"], first["failed"]) == (
        pump.spec.serial, "bearing", 0.75, False
    )  # fmt: skip
    assert first["faults"] == ["drift (flow)"]
    assert all(s["wear"] <= first["wear"] for s in states[1:])
    r._write_status(reporting=12, started=now - 10)
    written = json.loads((tmp_path / "status.json").read_text())
    assert written["wearing"][0]["serial"] == pump.spec.serial
