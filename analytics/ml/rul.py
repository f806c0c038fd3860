"""Remaining useful life: gradient boosting on rolling-window features, the target capped at a
piecewise-linear knee (early in life nothing says how long is left), with a prediction interval
from split-conformal bands (the errors on held-out units, by range of the prediction) or, without
them, from quantile models.

    model = rul_fit(features, target, params)        # features from window_features
    model.predict(features) -> RULPrediction(point, low, high)

The evaluation protocol (``validation_split``, ``truncated_rows``) chooses among parameter sets
on held-out *training* units cut at random points, as the test set's units are;
``cross_validate`` does so over folds of units, and its out-of-fold predictions calibrate the
interval (``conformal_bands``). The test set is used once, by the caller, for the figure it
reports.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.ensemble import HistGradientBoostingRegressor

KNEE = 125  # cycles: the usual cap for C-MAPSS (the published results use it)
QUANTILES = (0.1, 0.9)
COVERAGE = 0.8  # the conformal interval's share of held-out units inside it
# Ranges of the predicted RUL with their own bands: errors are small near failure and large
# where the prediction sits at the knee (the unit may have far more left).
BAND_EDGES = (40.0, 80.0)

# The candidates compared on the validation units (chosen before looking at any test figure).
CANDIDATES: list[dict[str, Any]] = [
    {"learning_rate": 0.05, "max_leaf_nodes": 20, "max_iter": 300},
    {"learning_rate": 0.05, "max_leaf_nodes": 50, "max_iter": 500},
    {"learning_rate": 0.03, "max_leaf_nodes": 30, "max_iter": 800},
    {"learning_rate": 0.1, "max_leaf_nodes": 20, "max_iter": 200},
]
COMMON = {"min_samples_leaf": 20, "l2_regularization": 1.0, "random_state": 0}


def capped_rul(life: pd.Series, age: pd.Series, knee: float = KNEE) -> pd.Series:
    """The training target: cycles left (``life - age``), capped at ``knee``."""
    return np.minimum(life - age, knee)


def rmse(predicted: ArrayLike, actual: ArrayLike) -> float:
    d = np.asarray(predicted, dtype=float) - np.asarray(actual, dtype=float)
    return float(np.sqrt(np.mean(d * d)))


def phm08_score(predicted: ArrayLike, actual: ArrayLike) -> float:
    """The PHM08 challenge's asymmetric score: late predictions (d > 0) cost more than early
    ones, exp(d/10) - 1 against exp(-d/13) - 1, summed over units."""
    d = np.asarray(predicted, dtype=float) - np.asarray(actual, dtype=float)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


@dataclass
class RULPrediction:
    point: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass
class ConformalBands:
    """Offsets from the point prediction to the interval's ends, per range of the prediction:
    ``edges`` split the predictions into ``len(edges) + 1`` ranges, ``low[i]`` and ``high[i]``
    are range *i*'s offsets (low <= 0 <= high, in cycles)."""

    edges: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    def interval(self, point: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(point, dtype=float)
        band = np.searchsorted(np.asarray(self.edges), p, side="right")
        return p + np.asarray(self.low)[band], p + np.asarray(self.high)[band]


def conformal_bands(
    point: ArrayLike,
    actual: ArrayLike,
    *,
    coverage: float = COVERAGE,
    edges: Sequence[float] = BAND_EDGES,
) -> ConformalBands:
    """Split-conformal bands from predictions on held-out units and the true cycles left: in
    each range of the prediction, the residuals' (actual - point) lower and upper
    ``(1 - coverage) / 2`` quantiles, with the finite-sample correction (the k-th smallest of n
    with k = ceil((n + 1) q), clamped to the data). A range with no held-out prediction takes the
    bands of all of them."""
    p = np.asarray(point, dtype=float)
    residual = np.asarray(actual, dtype=float) - p
    tail = (1.0 - coverage) / 2.0
    band = np.searchsorted(np.asarray(edges, dtype=float), p, side="right")
    lows, highs = [], []
    for b in range(len(edges) + 1):
        r = np.sort(residual[band == b] if np.any(band == b) else residual)
        n = len(r)
        k_high = min(n, int(np.ceil((n + 1) * (1.0 - tail))))
        k_low = max(1, n + 1 - k_high)
        lows.append(min(0.0, float(r[k_low - 1])))
        highs.append(max(0.0, float(r[k_high - 1])))
    return ConformalBands(edges=tuple(float(e) for e in edges), low=tuple(lows), high=tuple(highs))


@dataclass
class RULModel:
    columns: list[str]
    params: dict[str, Any]
    point: HistGradientBoostingRegressor
    bounds: list[HistGradientBoostingRegressor] = field(default_factory=list)
    bands: ConformalBands | None = None

    def predict(self, features: pd.DataFrame) -> RULPrediction:
        x = features[self.columns]
        point = np.clip(self.point.predict(x), 0.0, None)
        if self.bands is not None:
            low, high = self.bands.interval(point)
            low = np.clip(low, 0.0, None)
        elif self.bounds:
            low = np.clip(self.bounds[0].predict(x), 0.0, None)
            high = np.clip(self.bounds[1].predict(x), 0.0, None)
        else:
            low = high = point
        return RULPrediction(point, np.minimum(low, point), np.maximum(high, point))


def rul_fit(
    features: pd.DataFrame,
    target: pd.Series,
    params: dict[str, Any],
    *,
    columns: Sequence[str] | None = None,
    interval: bool = True,
    bands: ConformalBands | None = None,
) -> RULModel:
    """Fit the point model (squared error) and, with ``interval``, the interval: ``bands``
    (``conformal_bands`` from held-out units) when given, else the 10 % and 90 % quantile models
    with the same parameters."""
    columns = list(columns if columns is not None else features.columns)
    x = features[columns]
    point = HistGradientBoostingRegressor(**COMMON, **params).fit(x, target)
    bounds = []
    if interval and bands is None:
        for q in QUANTILES:
            bounds.append(
                HistGradientBoostingRegressor(loss="quantile", quantile=q, **COMMON, **params).fit(
                    x, target
                )
            )
    return RULModel(
        columns=columns,
        params=params,
        point=point,
        bounds=bounds,
        bands=bands if interval else None,
    )


def validation_split(units: Sequence[Any], *, share: float = 0.2, seed: int = 0) -> set[Any]:
    """The training units held out for choosing parameters (a seeded random share)."""
    units = sorted(set(units))
    count = max(1, round(len(units) * share))
    rng = np.random.default_rng(seed)
    return set(rng.choice(np.array(units, dtype=object), size=count, replace=False).tolist())


def truncated_rows(
    frame: pd.DataFrame, *, unit: str, cuts: int = 5, min_age: int = 31, seed: int = 0
) -> pd.DataFrame:
    """For each unit, ``cuts`` rows at random ages (at least ``min_age`` readings in): what a
    unit cut short looks like, as the test units are cut (evaluated at their last row)."""
    rng = np.random.default_rng(seed)
    picked = []
    for _, rows in frame.groupby(unit, sort=True):
        n = len(rows)
        low = min(min_age, n)
        picked.extend(rows.index[rng.integers(low - 1, n, size=cuts)])
    return frame.loc[picked]


def choose_params(
    features: pd.DataFrame,
    target: pd.Series,
    units: pd.Series,
    *,
    candidates: Sequence[dict[str, Any]] = CANDIDATES,
    columns: Sequence[str] | None = None,
    seed: int = 0,
) -> tuple[dict[str, Any], list[tuple[dict[str, Any], float]]]:
    """Train each candidate on the training units minus a validation share; the one with the
    lowest RMSE on the held-out units, cut like test units, wins. Returns it and every
    candidate's validation RMSE."""
    held_out = validation_split(units.tolist(), seed=seed)
    train = ~units.isin(held_out)
    frame = features.assign(_unit=units, _target=target)
    val = truncated_rows(frame[~train], unit="_unit", seed=seed)
    results = []
    for params in candidates:
        model = rul_fit(features[train], target[train], params, columns=columns, interval=False)
        results.append((params, rmse(model.predict(val).point, val["_target"])))
    best = min(results, key=lambda item: item[1])[0]
    return best, results


def unit_folds(units: Sequence[Any], *, folds: int = 5, seed: int = 0) -> list[set[Any]]:
    """The units shuffled (seeded) and dealt into ``folds`` groups of near-equal size."""
    ordered = np.array(sorted(set(units)), dtype=object)
    shuffled = np.random.default_rng(seed).permutation(ordered)
    return [set(part.tolist()) for part in np.array_split(shuffled, min(folds, len(ordered)))]


@dataclass
class CrossValidation:
    rmse: float  # over every fold's held-out rows pooled
    point: np.ndarray  # out-of-fold predictions at the held-out rows
    target: np.ndarray  # the (capped) target there
    actual: np.ndarray  # the true cycles left there, uncapped


def cross_validate(
    features: pd.DataFrame,
    target: pd.Series,
    units: pd.Series,
    params: dict[str, Any],
    *,
    actual: pd.Series | None = None,
    columns: Sequence[str] | None = None,
    folds: int = 5,
    cuts: int = 10,
    seed: int = 0,
) -> CrossValidation:
    """Fit on all units but one fold's, predict that fold's units cut at ``cuts`` random ages
    each (``truncated_rows``), for every fold: the pooled RMSE against ``target`` and the
    out-of-fold predictions (with ``actual``, the uncapped cycles left, for the interval)."""
    truth = actual if actual is not None else target
    frame = features.assign(_unit=units, _target=target, _actual=truth)
    points, targets, actuals = [], [], []
    for k, held_out in enumerate(unit_folds(units.tolist(), folds=folds, seed=seed)):
        inside = units.isin(held_out)
        val = truncated_rows(frame[inside], unit="_unit", cuts=cuts, seed=seed + k)
        model = rul_fit(features[~inside], target[~inside], params, columns=columns, interval=False)
        points.append(model.predict(val).point)
        targets.append(val["_target"].to_numpy(float))
        actuals.append(val["_actual"].to_numpy(float))
    point, capped = np.concatenate(points), np.concatenate(targets)
    return CrossValidation(rmse(point, capped), point, capped, np.concatenate(actuals))
