"""A seeded fleet: who the devices are, how fast each wears, how often faults happen.

Everything random comes from ``numpy.random.Generator``s seeded from the fleet seed and the
device's index, so the same seed gives the same fleet and the same data, in history and live.
The faults themselves live in ``anomalies``.
"""

from dataclasses import dataclass, field

import numpy as np

from . import physics

TYPE_MIX = (
    ("pump", 0.35),
    ("motor", 0.3),
    ("compressor", 0.15),
    ("edge gateway", 0.1),
    ("battery sensor", 0.1),
)
PREFIX = {
    "pump": "PMP",
    "motor": "MOT",
    "compressor": "CMP",
    "edge gateway": "GW",
    "battery sensor": "BAT",
}
HALLS = ("Hall A", "Hall B", "Hall C", "Pump house", "Compressor room", "Yard")


@dataclass
class DeviceSpec:
    index: int
    kind: str
    serial: str
    name: str
    location: str
    failure_mode: str
    seed: int
    life_use: float  # use (load-seconds) from new to failure
    phase: float  # shift offset, seconds
    drain_per_day: float  # battery, % a day
    metrics: tuple[str, ...] = field(default=())

    def rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.index, stream])


@dataclass
class Rates:
    """Expected events per device per day, and failure timing."""

    anomalies_per_day: float = 2.0
    outages_per_day: float = 0.3
    skews_per_day: float = 0.1
    mean_life_days: float = 30.0
    life_spread: float = 0.35  # lognormal sigma of a device's life
    repair_hours: float = 8.0  # history: how long a failed device is down


def make_fleet(
    count: int, seed: int, rates: Rates | None = None, kinds: tuple[str, ...] | None = None
) -> list[DeviceSpec]:
    rates = rates or Rates()
    rng = np.random.default_rng([seed, 0xF1EE7])
    names: list[str] = [k for k, _ in TYPE_MIX]
    weights: list[float] = [w for _, w in TYPE_MIX]
    if kinds:
        names, weights = list(kinds), [1.0 for _ in kinds]
    p = np.array(weights) / sum(weights)
    fleet = []
    counters: dict[str, int] = {}
    for index in range(count):
        kind = str(rng.choice(names, p=p))
        counters[kind] = counters.get(kind, 0) + 1
        number = counters[kind]
        life_days = rates.mean_life_days * float(rng.lognormal(0.0, rates.life_spread))
        fleet.append(
            DeviceSpec(
                index=index,
                kind=kind,
                serial=f"SIM-{PREFIX[kind]}-{seed % 1000:03d}-{number:04d}",
                name=f"{kind.title()} {number}",
                location=str(rng.choice(HALLS)),
                failure_mode=str(rng.choice(physics.FAILURE_MODES[kind])),
                seed=seed,
                # average use rate is about (0.4 + mean load 0.6) = 1 per second
                life_use=life_days * physics.DAY,
                phase=float(rng.uniform(-1800, 1800)),
                drain_per_day=float(rng.uniform(0.4, 1.2)),
                metrics=physics.METRICS[kind],
            )
        )
    return fleet
