"""What the apply cycle finds of one device in one minute, as its parts fill it in (the
multivariate score, the residual and rule detectors, health, RUL, forecasts) and the storing,
the spells and the live events read it."""

from dataclasses import dataclass, field
from typing import Any

from .models import DeviceBaseline, DeviceLife

TOP_DRIVERS = 3  # the metrics named as an anomaly's drivers


@dataclass
class DeviceResult:
    device_id: int
    name: str
    health: float | None = None
    rul: float | None = None
    rul_low: float | None = None
    rul_high: float | None = None
    anomaly: float | None = None
    drivers: list[dict[str, Any]] = field(default_factory=list)
    anomaly_version: int | None = None
    detector: str = ""
    flags: list[dict[str, Any]] = field(default_factory=list)  # residual, stuck, threshold, z-score
    crossing: dict[str, Any] | None = None  # the soonest forecast crossing of a warning limit
    forecast: bool = False  # whether this minute forecast the device (a tenth of them do)
    baseline: DeviceBaseline | None = None  # its residual fit, renewed this minute (a 30th are)
    life: DeviceLife | None = None  # its current life's state, renewed this minute

    @property
    def flagged(self) -> bool:
        return self.anomaly is not None and self.anomaly > 1.0
