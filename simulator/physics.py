"""Device physics: each metric a function of the operating state, wear and noise.

Every function works on numpy arrays of any shape, so the same code computes one device over a
long history (an array over time) or a whole fleet at one instant (an array over devices).

Operating state: ``load`` in [0, 1] follows shifts (day shift busy, night and weekend quieter)
plus a slow random wander; ``ambient`` follows the day. Wear: each failure mode has a degradation
``d`` in [0, 1] (0 new, 1 failed) that grows with use; only the device's own failure mode grows.

- load and speed drive current and temperature; pressure raises compressor temperature;
- bearing wear raises vibration (quadratically: it shows late, as real bearings do);
- overheating raises temperature; a seal leak drops pressure and flow; battery fade shrinks
  the battery's usable charge until it runs flat.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]

TYPES = ("pump", "motor", "compressor", "edge gateway", "battery sensor")
FAILURE_MODES: dict[str, tuple[str, ...]] = {
    "pump": ("bearing", "overheating", "seal_leak"),
    "motor": ("bearing", "overheating"),
    "compressor": ("bearing", "overheating", "seal_leak"),
    "edge gateway": ("overheating", "battery_fade"),
    "battery sensor": ("battery_fade",),
}
METRICS: dict[str, tuple[str, ...]] = {
    "pump": ("temperature", "vibration", "pressure", "flow", "current"),
    "motor": ("temperature", "vibration", "speed", "current", "voltage"),
    "compressor": ("temperature", "pressure", "vibration", "current"),
    "edge gateway": ("cpu_usage", "temperature", "battery"),
    "battery sensor": ("temperature", "battery"),
}
DAY = 86_400.0


def shift_load(t: Array, phase: Array | float = 0.0) -> Array:
    """Planned load from the shift pattern: 06-22 busy, nights quieter, weekends low."""
    hour = ((t + phase) % DAY) / 3600.0
    weekday = ((t + phase) // DAY + 3) % 7  # 1970-01-01 was a Thursday
    day_shift = (hour >= 6) & (hour < 22)
    load = np.where(day_shift, 0.8, 0.35)
    # ramps at shift changes instead of steps
    load = load + 0.1 * np.sin(2 * np.pi * (hour - 6) / 16) * day_shift
    return np.where(weekday >= 5, load * 0.5, load)


def ambient(t: Array) -> Array:
    hour = (t % DAY) / 3600.0
    return 21.0 + 4.0 * np.sin(2 * np.pi * (hour - 9) / 24)


@dataclass
class Wear:
    """Degradation per failure mode, each in [0, 1]."""

    bearing: Array
    overheating: Array
    seal_leak: Array
    battery_fade: Array

    @classmethod
    def of(cls, mode: str, d: Array) -> "Wear":
        zero = np.zeros_like(d)
        return cls(
            **{
                m: (d if m == mode else zero)
                for m in ("bearing", "overheating", "seal_leak", "battery_fade")
            }
        )


def metrics(
    kind: str,
    *,
    load: Array,
    temp_air: Array,
    wear: Wear,
    battery: Array,
    noise: "np.random.Generator",
    scale: float = 1.0,
) -> dict[str, Array]:
    """Clean physics plus measurement noise (``scale`` multiplies it: noise bursts)."""
    shape = load.shape

    def n(sigma: float) -> Array:
        return noise.normal(0.0, sigma * scale, shape)

    if kind == "pump":
        flow = 110 * load * (1 - 0.55 * wear.seal_leak) + n(1.5)
        pressure = 1.5 + 8.5 * load * (1 - 0.6 * wear.seal_leak) + n(0.1)
        current = 6 + 24 * load + 7 * wear.bearing + n(0.3)
        temperature = temp_air + 22 * load + 0.5 * (current - 6) + 35 * wear.overheating + n(0.3)
        vibration = 1.2 + 2.2 * load + 9.5 * wear.bearing**2 + np.abs(n(0.15))
        return {
            "temperature": temperature,
            "vibration": vibration,
            "pressure": pressure,
            "flow": np.maximum(flow, 0),
            "current": current,
        }
    if kind == "motor":
        speed = 600 + 900 * load + n(4)
        current = 9 + 40 * load + 6 * wear.bearing + 4 * wear.overheating + n(0.4)
        voltage = 400 - 6 * load + n(1.2)
        temperature = temp_air + 45 * load + 0.3 * (current - 9) + 45 * wear.overheating + n(0.4)
        vibration = 0.8 + 1.6 * (speed / 1500) + 6.5 * wear.bearing**2 + np.abs(n(0.1))
        return {
            "temperature": temperature,
            "vibration": vibration,
            "speed": speed,
            "current": current,
            "voltage": voltage,
        }
    if kind == "compressor":
        pressure = 6.0 + 4.5 * load - 3.5 * wear.seal_leak + n(0.08)
        current = 22 + 45 * load + 8 * wear.bearing + n(0.5)
        temperature = (
            temp_air + 48 + 28 * load + 1.5 * (pressure - 6) + 30 * wear.overheating + n(0.4)
        )
        vibration = 1.5 + 2.0 * load + 8.5 * wear.bearing**2 + np.abs(n(0.15))
        return {
            "temperature": temperature,
            "pressure": pressure,
            "vibration": vibration,
            "current": current,
        }
    if kind == "edge gateway":
        cpu = np.clip(15 + 55 * load + n(4), 0, 100)
        temperature = temp_air + 12 + 0.25 * cpu + 25 * wear.overheating + n(0.3)
        return {
            "cpu_usage": cpu,
            "temperature": temperature,
            "battery": np.clip(battery + n(0.2), 0, 100),
        }
    if kind == "battery sensor":
        return {"temperature": temp_air + n(0.25), "battery": np.clip(battery + n(0.2), 0, 100)}
    raise ValueError(f"unknown device type {kind!r}")


def battery_level(
    elapsed: Array, *, fade: Array, drain_per_day: float | Array, sag: Array | float = 0.0
) -> Array:
    """Battery charge after ``elapsed`` seconds of a life: a steady drain, the usable share of
    the charge shrinking as the cell fades (nothing left at the end: the battery runs flat, that
    failure; the fall steepens as the fade nears it), and transient sags (cold nights, radio
    bursts) that recover within hours. A device whose cell does not fade keeps its charge less
    the drain."""
    days = elapsed / DAY
    return np.clip((100 - drain_per_day * days - sag) * (1 - fade), 0, 100)


SAG_RECOVERY = 6 * 3600.0  # seconds: a sag's time constant
SAGS_PER_DAY = 1 / 3  # sags per device a day, each 1-4 points
