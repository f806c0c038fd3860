"""The PCA T²+Q detector (``analytics.ml.anomaly``) for faults that last: scores smoothed,
alarms held, slow signals tamed.

A fault in a plant is seldom one reading: a valve half closed, a rotor out of balance stays so
for minutes. Scored reading by reading, such a fault's T² and Q dip under their limits now and
then (each dip a missed alarm) while one noisy normal reading crosses them (a false alarm). Here:

- T² and Q are smoothed by an exponentially weighted mean (``alpha``: the newest reading's
  weight; 1, no smoothing) before they meet their limits, the limits being the ``quantile`` of
  the training readings' smoothed scores;
- an alarm, once raised, is held for ``hold`` readings after the scores fall back under the
  limits (0: dropped at once), so one dip does not end it;
- signals that drift slowly through normal operation (temperatures: thermal inertia), which
  400 readings cannot span, so that any later reading is "anomalous" in them, are ``kept`` as
  they are, ``differenced`` (their rate of change is modelled, not their level) or ``dropped``.
  Which signals are slow is read off normal readings (``slow_signals``).

Everything is causal: a reading's alarm depends on it and the readings before it only, as it
would when scoring live. With ``alpha=1, hold=0, slow="keep"`` it is the plain detector.
"""

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import product
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import lfilter

from analytics.ml.adaptive import Experiment, Flags, Fold, choose_by_group
from analytics.ml.anomaly import T2Q, t2q_fit

Slow = Literal["keep", "difference", "drop"]
# A signal is slow when the median, over runs of normal operation, of its lag-1
# autocorrelation is above this: its next reading is mostly its last one, not noise.
SLOW_AUTOCORRELATION = 0.8


@dataclass(frozen=True)
class SmoothedParams:
    slow: Slow = "keep"
    quantile: float = 0.99
    alpha: float = 1.0
    hold: int = 0

    def label(self) -> str:
        return "  ".join(
            f"{k}={v:g}" if isinstance(v, float | int) else f"{k}={v}"
            for k, v in asdict(self).items()
        )


def lag1_autocorrelation(x: ArrayLike) -> NDArray[np.float64]:
    """Each column's lag-1 autocorrelation (0 for a constant column)."""
    data = np.asarray(x, dtype=float)
    centred = data - data.mean(axis=0)
    power = np.sum(centred**2, axis=0)
    lagged = np.sum(centred[1:] * centred[:-1], axis=0)
    return np.divide(lagged, power, out=np.zeros_like(power), where=power > 0)


def slow_signals(
    runs: Sequence[ArrayLike], *, threshold: float = SLOW_AUTOCORRELATION
) -> list[int]:
    """The columns slow in normal operation: median lag-1 autocorrelation over ``runs`` (each
    rows: readings in time order, columns: the same signals) above ``threshold``."""
    median = np.median([lag1_autocorrelation(run) for run in runs], axis=0)
    return [int(i) for i in np.flatnonzero(median > threshold)]


def ewma(values: ArrayLike, alpha: float, start: float | None = None) -> NDArray[np.float64]:
    """s_i = alpha v_i + (1 - alpha) s_(i-1), from s_(-1) = ``start`` (None: s_0 = v_0)."""
    v = np.asarray(values, dtype=float)
    if not len(v):
        return v.copy()
    before = v[0] if start is None else start
    smoothed, _ = lfilter([alpha], [1.0, alpha - 1.0], v, zi=[(1.0 - alpha) * before])
    return np.asarray(smoothed, dtype=float)


def hold(flags: ArrayLike, readings: int) -> NDArray[np.bool_]:
    """Each alarm kept on for ``readings`` more readings after it (0: as it is)."""
    f = np.asarray(flags, dtype=bool)
    if readings <= 0 or not f.any():
        return f.copy()
    index = np.arange(len(f))
    last = np.maximum.accumulate(np.where(f, index, -readings - 1))  # the latest alarm so far
    return index - last <= readings


def _features(
    data: NDArray[np.float64], slow: Sequence[int], how: Slow, before: NDArray[np.float64] | None
) -> NDArray[np.float64]:
    """The signals the model sees; ``before`` is the reading preceding ``data`` (None: the
    first reading has no rate of change, 0)."""
    if how == "keep" or not slow:
        return data
    fast = [i for i in range(data.shape[1]) if i not in set(slow)]
    if how == "drop":
        return data[:, fast]
    previous = np.vstack([data[:1] if before is None else before[None, :], data[:-1]])
    return np.hstack([data[:, fast], (data - previous)[:, list(slow)]])


@dataclass
class SmoothedT2Q:
    model: T2Q
    params: SmoothedParams
    slow: list[int]
    t2_limit: float
    q_limit: float
    last_reading: NDArray[np.float64]  # the last training reading, and its smoothed scores:
    last_t2: float  # scoring continues the training readings' stream
    last_q: float

    def excess(self, x: ArrayLike) -> NDArray[np.float64]:
        """The larger of smoothed T² and Q over their limits, for readings in time order that
        follow the training readings (rows: readings, columns: the training signals)."""
        data = np.asarray(x, dtype=float)
        if not len(data):
            return np.zeros(0)
        t2, q = self.model.scores(_features(data, self.slow, self.params.slow, self.last_reading))
        alpha = self.params.alpha
        t2_excess = ewma(t2, alpha, self.last_t2) / self.t2_limit
        return np.maximum(t2_excess, ewma(q, alpha, self.last_q) / self.q_limit)

    def flags(self, x: ArrayLike) -> NDArray[np.bool_]:
        """Alarms: an excess over 1, held for ``params.hold`` readings. (The hold starts afresh
        with the readings given: an alarm of the training readings is not carried over.)"""
        return hold(self.excess(x) > 1.0, self.params.hold)


def smoothed_fit(x: ArrayLike, params: SmoothedParams, *, slow: Sequence[int] = ()) -> SmoothedT2Q:
    """Fit on readings of normal operation in time order (rows: readings, columns: signals);
    ``slow``: the columns treated by ``params.slow``."""
    data = np.asarray(x, dtype=float)
    columns = sorted(set(slow))
    model = t2q_fit(_features(data, columns, params.slow, None))
    t2, q = model.scores(_features(data, columns, params.slow, None))
    t2_smooth, q_smooth = ewma(t2, params.alpha), ewma(q, params.alpha)
    return SmoothedT2Q(
        model=model,
        params=params,
        slow=columns,
        t2_limit=max(float(np.quantile(t2_smooth, params.quantile)), 1e-9),
        q_limit=max(float(np.quantile(q_smooth, params.quantile)), 1e-9),
        last_reading=data[-1].copy(),
        last_t2=float(t2_smooth[-1]),
        last_q=float(q_smooth[-1]),
    )


def grid(
    *,
    slows: Sequence[Slow],
    quantiles: Sequence[float],
    alphas: Sequence[float],
    holds: Sequence[int],
) -> list[SmoothedParams]:
    return [
        SmoothedParams(slow=s, quantile=q, alpha=a, hold=h)
        for s, q, a, h in product(slows, quantiles, alphas, holds)
    ]


def leave_group_out(
    experiments: Sequence[Experiment],
    candidates: Sequence[SmoothedParams],
    detect: Callable[[Experiment, SmoothedParams], NDArray[np.bool_]],
) -> tuple[list[Fold], dict[str, float], dict[SmoothedParams, Flags]]:
    """``choose_by_group`` of the smoothed detector's candidates (``detect``: an experiment's
    alarms on its scored readings)."""
    return choose_by_group(experiments, candidates, detect)
