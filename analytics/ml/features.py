"""Rolling-window features of time series, per unit (a device, an engine), vectorised.

For each signal: the value, and over each window of the last *w* readings its mean and its
slope (least squares against the reading's position), plus an exponentially weighted mean and
the mean since the start. Slopes and long means are what separates a wearing machine from a
noisy one: a single reading of a degrading sensor says little, its trend a lot.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

WINDOWS = (5, 15, 30)
EWM_ALPHA = 0.1


def window_features(
    frame: pd.DataFrame,
    *,
    unit: str,
    order: str,
    signals: Sequence[str],
    windows: Sequence[int] = WINDOWS,
    ewm_alpha: float = EWM_ALPHA,
) -> pd.DataFrame:
    """One row per input row (same index, sorted by ``unit`` then ``order``): ``order``, the
    signals, and for each signal ``<s>_m<w>``, ``<s>_sl<w>``, ``<s>_ewm``, ``<s>_exp``.
    Each row sees only its unit's readings up to itself (no look-ahead)."""
    missing = [c for c in (unit, order, *signals) if c not in frame.columns]
    if missing:
        raise KeyError(f"missing columns: {', '.join(missing)}")
    data = frame.sort_values([unit, order], kind="stable")
    groups = data.groupby(unit, sort=False)
    position = groups.cumcount().astype(float)  # 0, 1, 2, … within each unit
    columns: dict[str, pd.Series] = {order: data[order]}
    for signal in signals:
        x = data[signal].astype(float)
        columns[signal] = x
        by = x.groupby(data[unit], sort=False)
        xt = (x * position).groupby(data[unit], sort=False)
        t = position.groupby(data[unit], sort=False)
        tt = (position * position).groupby(data[unit], sort=False)
        for w in windows:
            mean_x = by.rolling(w, min_periods=1).mean().reset_index(level=0, drop=True)
            mean_xt = xt.rolling(w, min_periods=1).mean().reset_index(level=0, drop=True)
            mean_t = t.rolling(w, min_periods=1).mean().reset_index(level=0, drop=True)
            mean_tt = tt.rolling(w, min_periods=1).mean().reset_index(level=0, drop=True)
            var_t = mean_tt - mean_t * mean_t
            slope = (mean_xt - mean_x * mean_t) / var_t.where(var_t > 0)
            columns[f"{signal}_m{w}"] = mean_x
            columns[f"{signal}_sl{w}"] = slope.fillna(0.0)
        columns[f"{signal}_ewm"] = by.transform(lambda s: s.ewm(alpha=ewm_alpha).mean())
        columns[f"{signal}_exp"] = by.transform(lambda s: s.expanding().mean())
    out = pd.DataFrame(columns, index=data.index)
    return out.replace([np.inf, -np.inf], np.nan)
