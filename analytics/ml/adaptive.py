"""A drift-following variant of the PCA T²+Q detector (``analytics.ml.anomaly``).

A process drifts slowly (temperatures creep, a pump warms up) and a model fitted once on the
first readings of normal operation then calls every later reading anomalous. Here, reading by
reading:

- the centre the readings are measured from follows the readings judged normal, an
  exponentially weighted mean at rate ``adapt`` (0: fixed, the plain detector); readings judged
  anomalous leave it where it is, so a fault is not learnt as the new normal;
- T² and Q are averaged over the last ``window`` readings before they meet their limits (one
  noisy reading is no alarm), the limits being the ``quantile`` of the training readings'
  averaged scores;
- an alarm needs ``persistence`` readings in a row over a limit.

The PCA plane itself and the scale stay those fitted on the training readings.
"""

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import product
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics.ml.anomaly import T2Q, confusion, t2q_fit

P = TypeVar("P", bound=Hashable)  # a candidate's parameters


@dataclass(frozen=True)
class AdaptiveParams:
    quantile: float = 0.99
    window: int = 1
    adapt: float = 0.0
    persistence: int = 1
    trust: float = 1.0  # readings count as normal for the centre below trust x the limits

    def label(self) -> str:
        return "  ".join(f"{k}={v:g}" for k, v in asdict(self).items())


def _moving_mean(values: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    """The mean of each value and up to ``window - 1`` before it."""
    total = np.cumsum(np.r_[0.0, values])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (total[ends] - total[starts]) / (ends - starts)


@dataclass
class AdaptiveT2Q:
    model: T2Q
    params: AdaptiveParams
    t2_limit: float
    q_limit: float

    def flags(self, x: ArrayLike) -> NDArray[np.bool_]:
        """Alarms for readings in time order (rows: readings, columns: the training signals),
        following the training readings."""
        data = np.asarray(x, dtype=float)
        pca, scale = self.model.pca, self.model.scale
        components = pca.components_
        inverse_variance = 1.0 / pca.explained_variance_
        centre = self.model.mean.copy()
        window, adapt = self.params.window, self.params.adapt
        recent_t2: deque[float] = deque(maxlen=window)
        recent_q: deque[float] = deque(maxlen=window)
        over_run = 0
        alarms = np.zeros(len(data), dtype=bool)
        for i, reading in enumerate(data):
            z = (reading - centre) / scale - pca.mean_
            projected = components @ z
            residual = z - projected @ components
            recent_t2.append(float(np.sum(projected**2 * inverse_variance)))
            recent_q.append(float(residual @ residual))
            excess = max(
                sum(recent_t2) / len(recent_t2) / self.t2_limit,
                sum(recent_q) / len(recent_q) / self.q_limit,
            )
            over_run = over_run + 1 if excess > 1.0 else 0
            alarms[i] = over_run >= self.params.persistence
            if adapt and excess <= self.params.trust:
                centre += adapt * (reading - centre)
        return alarms


def adaptive_fit(x: ArrayLike, params: AdaptiveParams) -> AdaptiveT2Q:
    """Fit on readings of normal operation in time order (rows: readings, columns: signals)."""
    data = np.asarray(x, dtype=float)
    model = t2q_fit(data)
    t2, q = model.scores(data)
    t2_limit = float(np.quantile(_moving_mean(t2, params.window), params.quantile))
    q_limit = float(np.quantile(_moving_mean(q, params.window), params.quantile))
    return AdaptiveT2Q(model=model, params=params, t2_limit=t2_limit, q_limit=q_limit)


def grid(
    *,
    quantiles: Sequence[float],
    windows: Sequence[int],
    adapts: Sequence[float],
    persistences: Sequence[int] = (1,),
    trusts: Sequence[float] = (1.0,),
) -> list[AdaptiveParams]:
    return [
        AdaptiveParams(quantile=q, window=w, adapt=a, persistence=p, trust=t)
        for q, w, a, p, t in product(quantiles, windows, adapts, persistences, trusts)
    ]


@dataclass
class Experiment:
    name: str
    group: str
    train: NDArray[np.float64]  # readings of normal operation, for fitting
    scored: NDArray[np.float64]  # the readings after them, in time order
    labels: NDArray[np.bool_]  # of the scored readings


def pooled(
    flags: dict[str, NDArray[np.bool_]], experiments: Iterable[Experiment]
) -> dict[str, float]:
    """F1 and the alarm rates over the readings of ``experiments`` pooled."""
    chosen = list(experiments)
    return confusion(
        np.concatenate([flags[e.name] for e in chosen]),
        np.concatenate([e.labels for e in chosen]),
    )


@dataclass
class Fold:
    held_out: str
    params: Any  # the candidate chosen on the other groups
    train_f1: float  # on the other groups, where the parameters were chosen
    held_out_result: dict[str, float]


Flags = dict[str, NDArray[np.bool_]]


def choose_by_group(
    experiments: Sequence[Experiment],
    candidates: Sequence[P],
    detect: Callable[[Experiment, P], NDArray[np.bool_]],
) -> tuple[list[Fold], dict[str, float], dict[P, Flags]]:
    """For each group of experiments in turn: the candidate with the best pooled F1 on the
    other groups (``detect``: an experiment's alarms on its scored readings), scored on it.
    Returns the folds, the pooled out-of-fold result and every candidate's flags (by
    experiment)."""
    flags = {p: {e.name: detect(e, p) for e in experiments} for p in candidates}
    folds, out_of_fold = [], {}
    for group in sorted({e.group for e in experiments}):
        inside = [e for e in experiments if e.group != group]
        outside = [e for e in experiments if e.group == group]
        if not inside:  # one group only: nothing to choose on but itself
            inside = outside
        scored = [(pooled(flags[p], inside)["f1"], p) for p in candidates]
        train_f1, best = max(scored, key=lambda item: item[0])  # first best: grid order
        folds.append(Fold(group, best, train_f1, pooled(flags[best], outside)))
        out_of_fold.update({e.name: flags[best][e.name] for e in outside})
    return folds, pooled(out_of_fold, experiments), flags


def leave_group_out(
    experiments: Sequence[Experiment], candidates: Sequence[AdaptiveParams]
) -> tuple[list[Fold], dict[str, float], dict[AdaptiveParams, Flags]]:
    """``choose_by_group`` of the drift-following detector's candidates."""
    return choose_by_group(
        experiments, candidates, lambda e, p: adaptive_fit(e.train, p).flags(e.scored)
    )
