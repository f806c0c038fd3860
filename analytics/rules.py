"""The apply cycle's rule detectors and fleet forecasts, beside the multivariate score: each
device's minute against its warning limits and a rolling z-score (the type's window and
threshold), stuck sensors, and the soonest forecast crossing of a warning limit. The cycle
(``scoring``) and a device's prediction (the API) both ask here, so they say the same."""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from devices.models import Device, DeviceType
from telemetry.windows import minute_means

from . import forecasting, registry
from .ml import detectors
from .models import ModelKind

Limits = Mapping[int, Mapping[str, Mapping[str, float]]]

BATTERY_DROP_MINUTES = 10  # the window of the health rule "battery dropped more than 10 points"
# The z-score detector reads the type's window of minutes before the scored one; a device that
# missed a few of them still gets a z-score when three quarters are there.
ZSCORE_MIN_SHARE = 0.75
# A stuck sensor: the same minute mean STUCK_MINUTES consecutive minutes (no live sensor's noise
# repeats a mean of several readings exactly; the values a healthy reading sticks to, such as
# a flat battery's 0 %, are learnt with the anomaly model and left out, as are the ends of a
# metric's declared range). The T²+Q cannot see it (the value is a normal one): it scores
# STUCK_SCORE, past the limit, so a spell opens.
STUCK_MINUTES = 3
STUCK_SCORE = 2.0
# Forecasts of every metric with a warning limit: the next FORECAST_HOURS from the last
# FORECAST_HISTORY_MINUTES, for the devices due (each every FORECAST_EVERY_MINUTES).
FORECAST_HOURS = 3.0
FORECAST_HISTORY_MINUTES = 180


def limits(devices: Sequence[Device]) -> dict[int, dict[str, dict[str, float]]]:
    """Each device's effective warning limits (its own over its type's), by metric."""
    out: dict[int, dict[str, dict[str, float]]] = {}
    for device in devices:
        own: dict[str, dict[str, float]] = {}
        for metric, definition in device.metric_definitions().items():
            bounds = {
                k: float(definition[k])
                for k in ("warn_low", "warn_high")
                if definition.get(k) is not None
            }
            if bounds:
                own[metric] = bounds
        out[device.id] = own
    return out


def context_minutes(device_type: DeviceType) -> int:
    """The minutes before the scored one that the rule detectors and the battery-drop rule
    look back over."""
    return max(BATTERY_DROP_MINUTES, device_type.zscore_window)


def zscore_min_periods(device_type: DeviceType) -> int:
    return max(3, int(np.ceil(device_type.zscore_window * ZSCORE_MIN_SHARE)))


def flag_dicts(flags: Sequence[detectors.Flag]) -> list[dict[str, Any]]:
    """Flags as sent and answered: the detector, the metric, its value and how far off."""
    return [
        {
            "detector": f.detector,
            "metric": f.metric,
            "value": round(f.value, 4),
            "score": round(f.score, 3),
        }
        for f in flags
    ]


def rule_flags(
    frame: pd.DataFrame, device_type: DeviceType, device_limits: Limits
) -> dict[Any, list[detectors.Flag]]:
    """The threshold and rolling z-score flags of each device's last minute in ``frame``."""
    return detectors.latest_flags(
        frame,
        device_limits,
        window=device_type.zscore_window,
        threshold=device_type.zscore_threshold,
        min_periods=zscore_min_periods(device_type),
    )


def stuck_ignored(device_type: DeviceType, anomaly: Any) -> dict[str, list[float]] | None:
    """The values no stuck-sensor flag is raised on: those normal operation sticks to (learnt
    with the anomaly model) and each metric's declared range ends (a full battery's 100 %);
    None for a model trained before that was learnt (no stuck detection with it)."""
    saturated = anomaly.version.params.get("saturated")
    if saturated is None:
        return None
    ignored = {str(m): list(v) for m, v in saturated.items()}
    for metric, definition in device_type.metrics.items():
        ends = [float(definition[k]) for k in ("min", "max") if definition.get(k) is not None]
        ignored[metric] = [*ignored.get(metric, []), *ends]
    return ignored


def stuck_flags(
    frame: pd.DataFrame, device_type: DeviceType, anomaly: Any
) -> dict[Any, list[detectors.Flag]]:
    """Stuck sensors among the anomaly model's signals: the same minute mean STUCK_MINUTES
    consecutive minutes (see the constants)."""
    ignored = stuck_ignored(device_type, anomaly)
    if ignored is None:
        return {}
    signals = [s for s in anomaly.artefact.signals if s in frame.columns]
    return detectors.latest_stuck(
        frame[signals], readings=STUCK_MINUTES, ignore=ignored, step=pd.Timedelta(minutes=1)
    )


def crossings(
    *, tenant_id: int, device_limits: Limits, minute: datetime
) -> dict[int, dict[str, Any]]:
    """The soonest forecast crossing of a warning limit of each of the devices (the keys of
    ``device_limits``), from their last FORECAST_HISTORY_MINUTES up to ``minute``."""
    metrics = sorted({m for own in device_limits.values() for m in own})
    if not metrics:
        return {}
    history = minute_means(
        tenant_id=tenant_id,
        device_ids=list(device_limits),
        metrics=metrics,
        start=minute - timedelta(minutes=FORECAST_HISTORY_MINUTES - 1),
        end=minute + timedelta(minutes=1),
    )
    return forecasting.crossings(
        history,
        device_limits,
        minute=minute,
        history_minutes=FORECAST_HISTORY_MINUTES,
        hours=FORECAST_HOURS,
    )


def device_flags(*, device: Device, minute: datetime) -> list[dict[str, Any]]:
    """The rule detectors' flags on one device's ``minute``, as the cycle computed them."""
    device_type = device.type
    frame = minute_means(
        tenant_id=device.tenant_id,
        device_ids=[device.id],
        metrics=sorted(device_type.metrics),
        start=minute - timedelta(minutes=context_minutes(device_type)),
        end=minute + timedelta(minutes=1),
    )
    if frame.empty or frame.index.get_level_values("minute")[-1] != minute:
        return []
    anomaly = registry.active_model(
        tenant=device.tenant, device_type=device_type, kind=ModelKind.ANOMALY
    )
    stuck = [] if anomaly is None else stuck_flags(frame, device_type, anomaly).get(device.id, [])
    flagged = rule_flags(frame, device_type, limits([device]))
    return flag_dicts([*stuck, *flagged.get(device.id, [])])


def device_crossing(*, device: Device, minute: datetime) -> dict[str, Any] | None:
    """The soonest forecast crossing of one device's warning limits from ``minute``, as the
    cycle computes it for the devices it forecasts."""
    return crossings(tenant_id=device.tenant_id, device_limits=limits([device]), minute=minute).get(
        device.id
    )
