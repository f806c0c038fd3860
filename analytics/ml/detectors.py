"""The simple per-metric detectors, on one device's readings (a DataFrame: a column per metric,
rows in time order). Each flag says which metric drove it and by how much.

- thresholds from the device's effective definitions (``warn_low`` / ``warn_high``: its own over
  its type's);
- the rolling z-score (default window 20 readings, threshold 2.0), computed by the same
  function as the explorer's (``telemetry.analysis.rolling_zscore``).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from telemetry.analysis import rolling_zscore

ZSCORE_WINDOW = 20
ZSCORE_THRESHOLD = 2.0


@dataclass(frozen=True)
class Flag:
    row: Any  # the frame's index label (a time)
    metric: str
    detector: str  # "threshold" or "zscore"
    value: float
    score: float  # how far: beyond the limit (threshold), or in standard deviations (zscore)


def threshold_flags(frame: pd.DataFrame, limits: Mapping[str, Mapping[str, float]]) -> list[Flag]:
    """Readings beyond their metric's warning limits; ``score`` is the distance past it."""
    flags = []
    for metric, limit in limits.items():
        if metric not in frame.columns:
            continue
        values = frame[metric]
        low, high = limit.get("warn_low"), limit.get("warn_high")
        if high is not None:
            for row, value in values[values > high].items():
                flags.append(Flag(row, metric, "threshold", float(value), float(value - high)))
        if low is not None:
            for row, value in values[values < low].items():
                flags.append(Flag(row, metric, "threshold", float(value), float(low - value)))
    return flags


def zscore_flags(
    frame: pd.DataFrame, *, window: int = ZSCORE_WINDOW, threshold: float = ZSCORE_THRESHOLD
) -> list[Flag]:
    """Readings more than ``threshold`` standard deviations from their previous ``window``."""
    flags = []
    for metric in frame.columns:
        values = frame[metric].astype(float)
        z = rolling_zscore(values, window=window)
        beyond = z[np.abs(z.fillna(0.0)) > threshold]
        for row, score in beyond.items():
            flags.append(Flag(row, metric, "zscore", float(values[row]), float(score)))
    return flags
