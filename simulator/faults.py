"""Faults a simulated device is told to take on (the ``simulate`` command, from the Simulator
page): wear in a failure mode, or a one-off anomaly on a metric, labelled like the scheduled
ones."""

from typing import Any

from . import anomalies, physics

WEAR_FAULTS = ("bearing", "overheating", "seal_leak", "battery_fade")
FAULT_WEAR = 0.75  # a wear fault takes the device this share of its life at once
FAULT_SPREADS = 6.0  # an anomaly told: this many of the metric's spreads


def take_fault(device: Any, params: dict[str, Any], now: float, interval: float) -> dict[str, Any]:
    """Take on a fault as told (the Simulator page): a wear fault brings the device three
    quarters of the way to its failure in that mode; an anomaly distorts one metric from
    now for some minutes (a spike: the next reading), labelled like the scheduled ones."""
    fault = params.get("fault")
    if fault in WEAR_FAULTS:
        if fault not in physics.FAILURE_MODES[device.spec.kind]:
            return {"error": f"a {device.spec.kind} does not fail by {fault}"}
        device.mode = str(fault)
        device.use = max(device.use, FAULT_WEAR * device.life_use)
        return {"ok": True, "fault": fault, "wear": round(device.use / device.life_use, 3)}
    if fault in ("spike", "drift", "stuck"):
        metric = str(params.get("metric") or next(iter(anomalies.SPREAD[device.spec.kind])))
        if metric not in anomalies.SPREAD[device.spec.kind]:
            return {"error": f"no metric {metric!r} on a {device.spec.kind}"}
        seconds = interval if fault == "spike" else 60.0 * float(params.get("minutes", 30))
        event = anomalies.Event(
            kind=str(fault), start=now, end=now + max(seconds, 1.0), metric=metric,
            magnitude=FAULT_SPREADS, seed=int(now),
        )  # fmt: skip
        device.faults.open.append(event)
        return {"ok": True, "fault": fault, "metric": metric, "until_ms": int(event.end * 1000)}
    return {"error": f"unknown fault {fault!r}"}
