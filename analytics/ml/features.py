"""Rolling-window features of time series, per unit (a device, an engine), vectorised.

For each signal: the value, and over each window of the last *w* readings its mean and its
slope (least squares against the reading's position), optionally its standard deviation, plus
exponentially weighted means and the mean since the start. Slopes and long means are what
separates a wearing machine from a noisy one: a single reading of a degrading sensor says
little, its trend a lot.

Two kinds of feature need the unit's whole history, from its first reading on, and are wrong on
a recent window of a device's readings (the platform's case): the mean since the start
(``<s>_exp``, ``expanding=True``) and the deviations from the unit's own baseline, the mean of
its first ``baseline`` readings (``<s>_dm<w>``, ``<s>_dewm``). ``WINDOW_ONLY`` lists the
others; ``window_only_columns`` picks them from a feature table's columns. Keep ``order`` out of
a window-only model too when it counts the unit's age from its first reading (a C-MAPSS cycle).
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

# The defaults: the feature set chosen on C-MAPSS validation folds among ``FEATURE_SETS``
# (``manage.py evaluate_rul`` prints the comparison).
WINDOWS = (5, 15, 30, 60, 120)
EWM_ALPHA = 0.1
EWM_ALPHAS: tuple[float, ...] = ()
STDS: tuple[int, ...] = ()
BASELINE: int | None = None
RAW = True

# The candidates compared on validation folds: name, keyword arguments, window-only (then the
# model takes ``window_only_columns`` alone).
SHORT = (5, 15, 30)
LONG = (5, 15, 30, 60, 120)
FEATURE_SETS: list[tuple[str, dict[str, Any], bool]] = [
    ("short windows (the old set)", {"windows": SHORT, "baseline": None}, False),
    (
        "+ rolling std, 2 more EWMs",
        {"windows": SHORT, "baseline": None, "stds": (10, 30), "ewm_alphas": (0.05, 0.02)},
        False,
    ),
    ("long windows", {"windows": LONG, "baseline": None}, False),
    ("long windows, baseline 20", {"windows": LONG, "baseline": 20}, False),
    ("long windows, baseline 20, no raw", {"windows": LONG, "baseline": 20, "raw": False}, False),
    ("long windows, window-only", {"windows": LONG, "baseline": None, "expanding": False}, True),
]

# Suffixes of the features computed from the readings of a recent window alone: the value
# (no suffix), ``_m<w>`` means, ``_sl<w>`` slopes, ``_sd<w>`` standard deviations and the
# exponentially weighted means ``_ewm`` / ``_ewm<alpha>`` (these forget the start of the window
# after a few times 1/alpha readings). Not window-only: ``_exp``, ``_dm<w>``, ``_dewm``.
WINDOW_ONLY = ("", "_m", "_sl", "_sd", "_ewm")
HISTORY_ONLY = ("_exp", "_dm", "_dewm")


def window_only_columns(columns: Sequence[str], signals: Sequence[str]) -> list[str]:
    """The columns among ``columns`` that a recent window of readings gives right (see
    ``WINDOW_ONLY``): each signal's value, window means, slopes, standard deviations and
    exponentially weighted means; not ``order``, the means since the start or the deviations
    from a baseline."""
    picked = []
    for column in columns:
        for signal in signals:
            rest = column[len(signal) :] if column.startswith(signal) else None
            if rest is None or rest.startswith(HISTORY_ONLY):
                continue
            if rest == "" or any(
                rest.startswith(kind) and _is_tag(rest[len(kind) :]) for kind in WINDOW_ONLY[1:]
            ):
                picked.append(column)
                break
    return picked


def _is_tag(text: str) -> bool:
    """A window length or an alpha after a feature's kind, or nothing (``_ewm``)."""
    if not text:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rolling(values: pd.Series, keys: pd.Series, w: int, how: str) -> pd.Series:
    rolled = values.groupby(keys, sort=False).rolling(w, min_periods=1)
    return getattr(rolled, how)().reset_index(level=0, drop=True)


def unit_baseline(values: pd.Series, keys: pd.Series, readings: int) -> pd.Series:
    """Each row's unit baseline: the mean of the unit's first ``readings`` values, or of those
    up to the row itself while the unit has fewer (no look-ahead). ``values`` sorted by unit
    then order."""
    position = values.groupby(keys, sort=False).cumcount()
    early = values.where(position < readings, 0.0)
    total = early.groupby(keys, sort=False).cumsum()
    return total / np.minimum(position + 1, readings)


def window_features(
    frame: pd.DataFrame,
    *,
    unit: str,
    order: str,
    signals: Sequence[str],
    windows: Sequence[int] = WINDOWS,
    ewm_alpha: float = EWM_ALPHA,
    ewm_alphas: Sequence[float] = EWM_ALPHAS,
    stds: Sequence[int] = STDS,
    expanding: bool = True,
    baseline: int | None = BASELINE,
    raw: bool = RAW,
) -> pd.DataFrame:
    """One row per input row (same index, sorted by ``unit`` then ``order``): ``order``, the
    signals (with ``raw``), and for each signal ``<s>_m<w>`` and ``<s>_sl<w>`` for each of
    ``windows``, ``<s>_sd<w>`` for each of ``stds``, ``<s>_ewm`` (``ewm_alpha``) and
    ``<s>_ewm<alpha>`` for each of ``ewm_alphas``, with ``expanding`` ``<s>_exp``, and with a
    ``baseline`` of *n* readings ``<s>_dm<w>`` (each window mean minus the mean of the unit's
    first *n* readings) and ``<s>_dewm``. Each row sees only its unit's readings up to itself
    (no look-ahead)."""
    missing = [c for c in (unit, order, *signals) if c not in frame.columns]
    if missing:
        raise KeyError(f"missing columns: {', '.join(missing)}")
    data = frame.sort_values([unit, order], kind="stable")
    keys = data[unit]
    position = keys.groupby(keys, sort=False).cumcount().astype(float)  # 0, 1, 2, … per unit
    columns: dict[str, pd.Series] = {order: data[order]}
    for signal in signals:
        x = data[signal].astype(float)
        by = x.groupby(keys, sort=False)
        if raw:
            columns[signal] = x
        base = unit_baseline(x, keys, baseline) if baseline else None
        for w in windows:
            mean_x = _rolling(x, keys, w, "mean")
            mean_xt = _rolling(x * position, keys, w, "mean")
            mean_t = _rolling(position, keys, w, "mean")
            mean_tt = _rolling(position * position, keys, w, "mean")
            var_t = mean_tt - mean_t * mean_t
            slope = (mean_xt - mean_x * mean_t) / var_t.where(var_t > 0)
            columns[f"{signal}_m{w}"] = mean_x
            columns[f"{signal}_sl{w}"] = slope.fillna(0.0)
            if base is not None:
                columns[f"{signal}_dm{w}"] = mean_x - base
        for w in stds:
            columns[f"{signal}_sd{w}"] = _rolling(x, keys, w, "std").fillna(0.0)
        ewm = by.transform(lambda s: s.ewm(alpha=ewm_alpha).mean())
        columns[f"{signal}_ewm"] = ewm
        if base is not None:
            columns[f"{signal}_dewm"] = ewm - base
        for alpha in ewm_alphas:
            columns[f"{signal}_ewm{alpha:g}"] = by.transform(
                lambda s, a=alpha: s.ewm(alpha=a).mean()
            )
        if expanding:
            columns[f"{signal}_exp"] = by.transform(lambda s: s.expanding().mean())
    out = pd.DataFrame(columns, index=data.index)
    return out.replace([np.inf, -np.inf], np.nan)
