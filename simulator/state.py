"""What the Simulator page shows of each simulated device: how worn it is and in which mode it
will fail, the anomaly under way, and when the next scheduled one begins — the devices nearest
to failing first (at most ``LIMIT``, so the status stays small for a fleet of thousands)."""

from collections.abc import Iterable
from typing import Any

LIMIT = 50


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
