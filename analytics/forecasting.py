"""Forecasts of a device's metric for the next hours, and when they pass its warning limits.

The recent minute means (``history_hours``) feed the damped-trend exponential smoothing of
``analytics.ml.forecast``; the limits are the device's effective warning thresholds (its own
over its type's). Computed when asked for: a forecast of one metric takes milliseconds.
"""

from datetime import timedelta
from typing import Any

import numpy as np
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
