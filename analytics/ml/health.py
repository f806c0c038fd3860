"""Health 0-100 per device: the well-known rule baseline, then the multivariate anomaly score.

Rules, from 100: -30 overheating (temperature above its warning high), -20 high vibration
(vibration above its warning high), -20 low battery (battery below its warning low), -10 a
battery drop of more than 10 points over the recent window; clamped to 0-100. A metric the
device does not have, or a limit it does not define, costs nothing.

Combined: ``health = rules x (1 - penalty(s))`` with ``s`` the anomaly score (1.0 = the
model's limit) and ``penalty(s) = 0.5 x clip((s - 0.5) / 2.5, 0, 1)``: nothing while the
device behaves like its training (s <= 0.5), a tenth off at the limit (s = 1), half off from
three times the limit. Multiplying keeps the rules' meaning (an overheating device never looks
healthier because its signals are otherwise normal) and lets the model take points off a
device whose readings are each within limits but together unlike normal operation.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd

RULES = (
    # metric, which limit, penalty
    ("temperature", "warn_high", 30.0),
    ("vibration", "warn_high", 20.0),
    ("battery", "warn_low", 20.0),
)
BATTERY_DROP_POINTS = 10.0
BATTERY_DROP_PENALTY = 10.0
PENALTY_FROM = 0.5
PENALTY_SPAN = 2.5
PENALTY_MAX = 0.5


def health_rules(
    latest: pd.DataFrame,
    limits: Mapping[object, Mapping[str, Mapping[str, float]]],
    battery_drop: pd.Series | None = None,
) -> pd.Series:
    """The rule baseline for each row of ``latest`` (index: device, a column per metric);
    ``limits``: device → metric → {"warn_low", "warn_high"}; ``battery_drop``: points lost
    over the recent window, per device."""
    score = pd.Series(100.0, index=latest.index)
    for metric, bound, penalty in RULES:
        if metric not in latest.columns:
            continue
        limit = pd.Series(
            [limits.get(d, {}).get(metric, {}).get(bound, np.nan) for d in latest.index],
            index=latest.index,
            dtype=float,
        )
        values = latest[metric].astype(float)
        beyond = values > limit if bound == "warn_high" else values < limit
        score -= penalty * beyond.fillna(False).astype(float)
    if battery_drop is not None:
        dropped = battery_drop.reindex(latest.index).astype(float) > BATTERY_DROP_POINTS
        score -= BATTERY_DROP_PENALTY * dropped.fillna(False).astype(float)
    return score.clip(0.0, 100.0)


def penalty(anomaly_score: pd.Series) -> pd.Series:
    """The share of health the anomaly score takes (0 where there is no score)."""
    s = anomaly_score.astype(float)
    return (PENALTY_MAX * ((s - PENALTY_FROM) / PENALTY_SPAN).clip(0.0, 1.0)).fillna(0.0)


def health_score(rules: pd.Series, anomaly_score: pd.Series) -> pd.Series:
    """Rules and anomaly combined (see the module docstring), rounded to 0.1."""
    return (rules * (1.0 - penalty(anomaly_score.reindex(rules.index)))).clip(0, 100).round(1)
