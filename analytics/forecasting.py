"""Forecasts of a device's metric for the next hours, and when they pass its warning limits.

The recent minute means (``history_hours``) feed the damped-trend exponential smoothing of
``analytics.ml.forecast``; the limits are the device's effective warning thresholds (its own
over its type's). ``device_forecast`` answers the API for one metric; ``crossings`` forecasts
every limited metric of many devices at once, for the apply cycle: which device will pass which
limit soonest.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.utils import timezone

from devices.models import Device
from telemetry.windows import minute_means

from .ml import forecast as forecast_ml

STEP = timedelta(minutes=1)
MIN_HISTORY = 30  # minutes with a value, at the least


class ForecastError(ValueError):
    """The metric cannot be forecast (unknown, or too little recent history)."""


def device_forecast(
    *, device: Device, metric: str, hours: float, history_hours: float, level: float
) -> dict[str, Any]:
    """The forecast of ``metric`` with its interval and the warning limits it will cross."""
    end = timezone.now().replace(second=0, microsecond=0)
    start = end - timedelta(hours=history_hours)
    frame = minute_means(
        tenant_id=device.tenant_id, device_ids=[device.id], metrics=[metric], start=start, end=end
    )
    values = frame[metric].droplevel("device") if len(frame) else frame[metric]
    if values.notna().sum() < MIN_HISTORY:
        raise ForecastError(
            f"{metric!r} has {int(values.notna().sum())} minutes of readings in the last "
            f"{history_hours:g} hours; a forecast needs at least {MIN_HISTORY}."
        )
    # A regular minute grid up to the last complete minute (gaps as NaN).
    grid = values.reindex(
        values.index.union(
            [values.index[-1] + STEP * i for i in range(int((end - values.index[-1]) / STEP))]
        )
    )
    horizon = max(1, int(hours * 60))
    fc = forecast_ml.forecast(grid.to_numpy(float)[None, :], horizon=horizon, level=level)
    times = [grid.index[-1] + STEP * (i + 1) for i in range(horizon)]
    definition = device.metric_definitions().get(metric, {})
    crossings = []
    for key, above in (("warn_high", True), ("warn_low", False)):
        if definition.get(key) is None:
            continue
        limit = float(definition[key])
        steps, earliest = forecast_ml.crossing(fc, limit=limit, above=above)
        step, first = float(steps[0]), float(earliest[0])
        crossings.append(
            {
                "limit": limit,
                "direction": "above" if above else "below",
                "at": None if np.isnan(step) else times[int(step) - 1],
                "hours": None if np.isnan(step) else round(step / 60, 2),
                "earliest_hours": None if np.isnan(first) else round(first / 60, 2),
            }
        )
    return {
        "device": device.id,
        "metric": metric,
        "unit": str(definition.get("unit", "")),
        "step_seconds": int(STEP.total_seconds()),
        "level": level,
        "history": {
            "t": list(grid.index),
            "value": [None if np.isnan(v) else float(v) for v in grid.to_numpy(float)],
        },
        "forecast": {
            "t": times,
            "mean": fc.mean[0].round(4).tolist(),
            "low": fc.low[0].round(4).tolist(),
            "high": fc.high[0].round(4).tolist(),
        },
        "crossings": crossings,
    }


def crossings(
    frame: pd.DataFrame,
    limits: Mapping[int, Mapping[str, Mapping[str, float]]],
    *,
    minute: datetime,
    history_minutes: int,
    hours: float,
    level: float = 0.8,
) -> dict[int, dict[str, Any]]:
    """For each device of ``frame`` (minute means indexed (device, minute), up to ``minute``),
    the soonest forecast crossing of one of its warning limits within ``hours``: metric, limit,
    direction, hours (the forecast's mean) and earliest_hours (its interval's bound). Devices
    with fewer than MIN_HISTORY minutes of a metric, or no crossing, are left out."""
    if frame.empty:
        return {}
    grid = pd.date_range(end=minute, periods=history_minutes, freq=STEP, tz=minute.tzinfo or "UTC")
    horizon = max(1, int(hours * 60))
    devices = frame.index.unique("device")
    soonest: dict[int, dict[str, Any]] = {}
    for metric in frame.columns:
        for key, above in (("warn_high", True), ("warn_low", False)):
            bound = np.array(
                [limits.get(int(d), {}).get(metric, {}).get(key, np.nan) for d in devices],
                dtype=float,
            )
            if np.isnan(bound).all():
                continue
            wide = frame[metric].unstack("device").reindex(index=grid, columns=devices)
            values = wide.to_numpy(float).T  # devices x minutes
            usable = ~np.isnan(bound) & (np.sum(~np.isnan(values), axis=1) >= MIN_HISTORY)
            if not usable.any():
                continue
            fc = forecast_ml.forecast(values[usable], horizon=horizon, level=level)
            steps, earliest = forecast_ml.crossing(fc, limit=bound[usable], above=above)
            last = pd.DataFrame(values[usable].T).ffill().iloc[-1].to_numpy()
            for device, step, first, limit, now in zip(
                devices[usable], steps, earliest, bound[usable], last, strict=True
            ):
                # Already past it: the threshold detector's flag says so, not a forecast.
                if np.isnan(step) or (now > limit if above else now < limit):
                    continue
                found = soonest.get(int(device))
                if found is None or step / 60 < found["hours"]:
                    soonest[int(device)] = {
                        "metric": metric,
                        "limit": float(limit),
                        "direction": "above" if above else "below",
                        "hours": round(float(step) / 60, 2),
                        "earliest_hours": round(float(first) / 60, 2),
                    }
    return soonest
