"""The simulated devices' state outside the live run.

- What the Simulator page shows of each device (``device_states``): how worn it is and in which
  mode it will fail, the anomaly under way, and when the next scheduled one begins — the devices
  nearest to failing first (at most ``LIMIT``, so the status stays small for a fleet of
  thousands).
- Their wear, kept between runs in ``wear.json`` (``wear_save`` / ``wear_load``): a generated
  history writes where each device's life stands at its end, and a live run writes it as it goes
  and when it stops, so a live run picks up where the history it follows (``make run`` imports
  one) or the previous run left off, not at a new random wear. A gap of up to ``MAX_GAP``
  (importing, restarting) wears on at the average rate; a longer stop is a plant standing idle.
"""

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LIMIT = 50
WEAR_FILE = "wear.json"
MAX_GAP = 3600.0  # seconds
IN_SERVICE_MAX = 0.7  # a device first seen has used up to this share of its first life
MEAN_USE_RATE = 1.0  # load-seconds per second: 0.4 + the mean load of about 0.6


@dataclass
class WearState:
    use: float  # load-seconds since this life began
    life_use: float  # this life's length in load-seconds
    age: float  # seconds of (scaled) time since this life began: the battery's
    mode: str | None = None  # a wear fault it was told to take on
    wander: float = 0.0  # the slow load wander


def in_service(spec: Any) -> float:
    """The share of its first life a device has already used when the plant is first
    simulated (a history generated in service, or a live run with no saved wear)."""
    return float(spec.rng(5).uniform(0.0, IN_SERVICE_MAX))


def wear_save(path: Path, *, at: float, seed: int, states: dict[str, WearState]) -> None:
    """Each device's wear at ``at`` (epoch seconds), by serial; written whole or not at all."""
    body = {"at": at, "seed": seed, "devices": {s: asdict(w) for s, w in states.items()}}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(body))
    temporary.replace(path)


def wear_load(path: Path, *, seed: int, now: float, rate: float) -> dict[str, WearState]:
    """The saved wear of a fleet of this seed, brought forward to ``now`` (``rate``: the
    wear-time per second); empty when there is none, it is of another fleet or unreadable."""
    try:
        body = json.loads(path.read_text())
        if body.get("seed") != seed:
            return {}
        gap = now - float(body["at"])
        states = {serial: WearState(**fields) for serial, fields in body["devices"].items()}
    except (OSError, ValueError, TypeError, KeyError):
        return {}
    if 0 < gap <= MAX_GAP:
        for state in states.values():
            state.use = min(state.use + gap * rate * MEAN_USE_RATE, state.life_use)
            state.age += gap * rate
    return states


def device_states(devices: Iterable[Any], now: float, limit: int = LIMIT) -> list[dict[str, Any]]:
    """``devices``: the live runner's; each as {serial, kind, mode, wear 0-1, failed, faults
    under way, next_anomaly_s}."""
    rows = []
    for d in devices:
        upcoming = d.faults.upcoming
        rows.append(
            {
                "serial": d.spec.serial,
                "kind": d.spec.kind,
                "mode": d.mode or d.spec.failure_mode,
                "wear": round(min(d.use / d.life_use, 1.0), 3) if d.life_use else 0.0,
                "failed": d.failed_at is not None,
                "faults": sorted(
                    {
                        e.kind + (f" ({e.metric})" if e.metric else "")
                        for e in d.faults.open
                        if e.start <= now < e.end
                    }
                ),
                "next_anomaly_s": round(upcoming[0].start - now) if upcoming else None,
            }
        )
    rows.sort(key=lambda r: (not r["failed"], -r["wear"], r["serial"]))
    return rows[:limit]
