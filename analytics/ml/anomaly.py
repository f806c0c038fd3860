"""Multivariate anomaly detection on normal operation, two kinds behind one interface:

- ``pca_t2q``: PCA with Hotelling's T² (distance inside the model's plane) and Q, the squared
  prediction error (distance from it), each with a limit from the training scores. Linear and
  explainable; it sees broken correlations (Q) that no single signal shows.
- ``iforest``: an isolation forest on the standardised signals. No linearity assumed: it sees
  readings in the empty gaps of multi-modal operation (a machine that is either idle or at full
  load), where T² and Q stay small because the gap lies on the PCA plane near the mean.

Both answer ``score(x)`` (1.0 = the model's limit), ``flags(x)`` (score > 1),
``contributions(x)`` (each signal's share in a row's excess, rows summing to 1) and ``kind``;
both keep the signal names they were fitted on, so a DataFrame is scored by those columns, and
both pickle (the platform stores them with joblib). Missing values in a scored row count as the
training mean (z = 0): a silent sensor says nothing rather than everything.

``anomaly_choose`` fits both on the older readings, backtests both on the newer ones (with
injected faults when, as usual in a plant, nothing is labelled) and keeps the better one.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest

VARIANCE = 0.90  # components kept: those explaining this share of the normal variance
QUANTILE = 0.99  # limits: this quantile of the training scores
TINY = 1e-9  # a limit's floor (Q is identically 0 when every component is kept)
MIN_ROWS = 20  # fewer readings than this fit no model worth choosing
# The forest's typical score and limit come from at most this many training rows, drawn at
# random (seeded): scoring a month of a fleet's minutes through 200 trees took 12 s, and the
# 0.99 quantile of 50,000 draws is within about 0.1 percentile points of the whole's.
IFOREST_LIMIT_ROWS = 50_000
# Injected faults for an unlabelled backtest: shifts of this many training standard deviations
# on one or two signals, over windows of this share of the rows, covering about FAULT_SHARE.
FAULT_SIGMAS = (3.0, 6.0)
FAULT_WINDOW = 0.05
FAULT_SHARE = 0.2


def _names(x: ArrayLike | pd.DataFrame) -> list[str]:
    if isinstance(x, pd.DataFrame):
        return [str(c) for c in x.columns]
    return [f"s{i}" for i in range(np.atleast_2d(np.asarray(x)).shape[1])]


def _matrix(x: ArrayLike | pd.DataFrame, signals: Sequence[str]) -> NDArray[np.float64]:
    """A DataFrame by the model's columns (a KeyError names any missing), anything else as
    rows x signals in the fitted order."""
    if isinstance(x, pd.DataFrame):
        frame = x.rename(columns=str)
        missing = [s for s in signals if s not in frame.columns]
        if missing:
            raise KeyError(f"missing signals: {', '.join(missing)}")
        return frame[list(signals)].to_numpy(dtype=float)
    data = np.atleast_2d(np.asarray(x, dtype=float))
    if data.shape[1] != len(signals):
        raise ValueError(f"{data.shape[1]} columns, the model has {len(signals)} signals")
    return data


def _standardise(
    data: NDArray[np.float64], mean: NDArray[np.float64], scale: NDArray[np.float64]
) -> NDArray[np.float64]:
    return np.nan_to_num((data - mean) / scale, nan=0.0)


def _moments(data: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    mean = np.nanmean(data, axis=0)
    scale = np.nanstd(data, axis=0)
    scale[~(scale > 0)] = 1.0  # a constant signal: any change is a change in units
    return mean, scale


def _complete_rows(data: NDArray[np.float64]) -> NDArray[np.float64]:
    rows = data[~np.isnan(data).any(axis=1)]
    if len(rows) < 2:
        raise ValueError(f"{len(rows)} complete readings: fitting needs at least 2")
    return rows


def _shares(parts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rows scaled to sum to 1; a row with nothing to share is split evenly."""
    total = parts.sum(axis=1, keepdims=True)
    even = np.full_like(parts, 1.0 / parts.shape[1])
    return np.where(total > 0, parts / np.where(total > 0, total, 1.0), even)


@dataclass
class T2Q:
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    pca: PCA
    t2_limit: float
    q_limit: float
    signals: list[str] = field(default_factory=list)
    kind: ClassVar[str] = "pca_t2q"

    def _parts(
        self, x: ArrayLike | pd.DataFrame
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        z = _standardise(_matrix(x, self.signals), self.mean, self.scale)
        projected = self.pca.transform(z)
        return z, projected, z - self.pca.inverse_transform(projected)

    def scores(
        self, x: ArrayLike | pd.DataFrame
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """T² and Q of each row."""
        _, projected, residual = self._parts(x)
        t2 = np.sum(projected**2 / self.pca.explained_variance_, axis=1)
        return t2, np.sum(residual**2, axis=1)

    def score(self, x: ArrayLike | pd.DataFrame) -> NDArray[np.float64]:
        t2, q = self.scores(x)
        return np.maximum(t2 / self.t2_limit, q / self.q_limit)

    def flags(self, x: ArrayLike | pd.DataFrame) -> NDArray[np.bool_]:
        return self.score(x) > 1.0

    def contributions(self, x: ArrayLike | pd.DataFrame) -> NDArray[np.float64]:
        """Per row, the statistic further past its limit decides: Q's share is each signal's
        squared residual; T²'s is the complete decomposition (Alcala & Qin 2009), the squares
        of D^½ z with D = P Λ⁻¹ Pᵀ. Both are non-negative and sum exactly to their statistic,
        where the usual z_j (D z)_j can go negative and hide the signal that drove it."""
        z, projected, residual = self._parts(x)
        t2 = np.sum(projected**2 / self.pca.explained_variance_, axis=1)
        q = np.sum(residual**2, axis=1)
        loadings = self.pca.components_.T  # signals x components
        root = (loadings / np.sqrt(self.pca.explained_variance_)) @ loadings.T
        t2_parts = (z @ root) ** 2  # root is symmetric
        by_t2 = (t2 / self.t2_limit >= q / self.q_limit)[:, None]
        return _shares(np.where(by_t2, t2_parts, residual**2))


def t2q_fit(
    x: ArrayLike | pd.DataFrame, *, variance: float = VARIANCE, quantile: float = QUANTILE
) -> T2Q:
    """Fit on readings of normal operation (rows: readings, columns: signals; incomplete rows
    are left out)."""
    signals = _names(x)
    data = _complete_rows(_matrix(x, signals))
    mean, scale = _moments(data)
    z = _standardise(data, mean, scale)
    pca = PCA(n_components=variance, svd_solver="full").fit(z)
    model = T2Q(mean=mean, scale=scale, pca=pca, t2_limit=1.0, q_limit=1.0, signals=signals)
    t2, q = model.scores(data)
    model.t2_limit = max(float(np.quantile(t2, quantile)), TINY)
    model.q_limit = max(float(np.quantile(q, quantile)), TINY)
    return model


@dataclass
class IForest:
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    forest: IsolationForest
    typical: float  # the training median of the raw score
    limit: float  # the training quantile of the raw score
    signals: list[str] = field(default_factory=list)
    kind: ClassVar[str] = "iforest"

    def raw(self, x: ArrayLike | pd.DataFrame) -> NDArray[np.float64]:
        """The paper's anomaly score 2^(-E[h]/c(n)), in (0, 1]: about 0.5 and below is normal."""
        z = _standardise(_matrix(x, self.signals), self.mean, self.scale)
        return np.asarray(-self.forest.score_samples(z), dtype=float)

    def score(self, x: ArrayLike | pd.DataFrame) -> NDArray[np.float64]:
        """0 at the typical training reading, 1 at the limit. The raw score is bounded by 1, so
        raw / limit would never pass about 1.7 however far out a reading is; measured from the
        typical reading it spreads as T²'s ratio does (about 3-4 for a reading isolated at the
        first split), so one health penalty curve fits both kinds."""
        span = max(self.limit - self.typical, TINY)
        return np.clip((self.raw(x) - self.typical) / span, 0.0, None)

    def flags(self, x: ArrayLike | pd.DataFrame) -> NDArray[np.bool_]:
        return self.score(x) > 1.0

    def contributions(self, x: ArrayLike | pd.DataFrame) -> NDArray[np.float64]:
        """Each signal's share of the row's standardised |z|. The forest splits uniformly over
        each signal's range, so a reading is isolated quickly along the signals where it lies
        far out in standard deviations: |z| ranks them as its short paths do for the shifts
        and spikes that make most faults, at O(rows x signals), where attributing path depths
        needs every tree's decision path. (A broken correlation with every signal in range
        spreads the shares; the forest's axis-parallel splits see that case poorly anyway, and
        T²/Q's contributions are the ones to read then.)"""
        z = _standardise(_matrix(x, self.signals), self.mean, self.scale)
        return _shares(np.abs(z))


def iforest_fit(
    x: ArrayLike | pd.DataFrame,
    *,
    quantile: float = QUANTILE,
    n_estimators: int = 200,
    random_state: int = 0,
) -> IForest:
    """Fit on readings of normal operation (incomplete rows are left out); the limit is the
    ``quantile`` of the training scores, as T²'s and Q's are."""
    signals = _names(x)
    data = _complete_rows(_matrix(x, signals))
    mean, scale = _moments(data)
    forest = IsolationForest(n_estimators=n_estimators, random_state=random_state)
    forest.fit(_standardise(data, mean, scale))
    model = IForest(mean=mean, scale=scale, forest=forest, typical=0.0, limit=1.0, signals=signals)
    if len(data) > IFOREST_LIMIT_ROWS:
        rng = np.random.default_rng(random_state)
        data = data[np.sort(rng.choice(len(data), IFOREST_LIMIT_ROWS, replace=False))]
    raw = model.raw(data)
    model.typical = float(np.median(raw))
    model.limit = float(np.quantile(raw, quantile))
    return model


AnomalyModel = T2Q | IForest


def confusion(flags: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """F1, false-alarm rate FP/(FP+TN) and missed-alarm rate FN/(FN+TP), as SKAB reports."""
    f = np.asarray(flags, dtype=bool)
    y = np.asarray(labels, dtype=bool)
    tp, fp = int(np.sum(f & y)), int(np.sum(f & ~y))
    fn, tn = int(np.sum(~f & y)), int(np.sum(~f & ~y))
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {
        "f1": f1,
        "far": fp / (fp + tn) if fp + tn else 0.0,
        "mar": fn / (fn + tp) if fn + tp else 0.0,
    }


def inject_faults(
    data: NDArray[np.float64], scale: NDArray[np.float64], *, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """A copy of ``data`` with level shifts of 3-6 standard deviations (``scale``, the model's
    normal spread) on one or two random signals over random windows of about 5 % of the rows,
    covering about 20 % of them; and the rows' labels. Seeded: the same faults every time."""
    rng = np.random.default_rng(seed)
    n, m = data.shape
    width = max(1, round(n * FAULT_WINDOW))
    starts = np.arange(0, n, width)
    chosen = rng.choice(starts, size=max(1, round(len(starts) * FAULT_SHARE)), replace=False)
    faulty = data.copy()
    labels = np.zeros(n, dtype=bool)
    for start in np.sort(chosen):
        rows = slice(int(start), int(start) + width)
        signals = rng.choice(m, size=min(m, int(rng.integers(1, 3))), replace=False)
        sigmas = rng.uniform(*FAULT_SIGMAS, size=len(signals)) * rng.choice(
            [-1.0, 1.0], len(signals)
        )
        faulty[rows, signals] += sigmas * scale[signals]
        labels[rows] = True
    return faulty, labels


def anomaly_backtest(
    model: AnomalyModel,
    holdout: ArrayLike | pd.DataFrame,
    *,
    labels: ArrayLike | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """F1, false- and missed-alarm rates of ``model`` on ``holdout``. With ``labels`` they are
    the truth; without, the holdout counts as normal operation and is scored twice: as it is
    (every flag a false alarm) and with injected faults (``inject_faults``: known labels)."""
    data = _matrix(holdout, model.signals)
    if labels is not None:
        return confusion(model.flags(data), labels)
    faulty, truth = inject_faults(data, model.scale, seed=seed)
    flags = np.r_[model.flags(data), model.flags(faulty)]
    return confusion(flags, np.r_[np.zeros(len(data), dtype=bool), truth])


def anomaly_fit(kind: str, x: ArrayLike | pd.DataFrame) -> AnomalyModel:
    """A model of either kind with its defaults."""
    if kind == T2Q.kind:
        return t2q_fit(x)
    if kind == IForest.kind:
        return iforest_fit(x)
    raise ValueError(f"unknown anomaly model kind {kind!r}")


KINDS = (T2Q.kind, IForest.kind)


def anomaly_choose(
    x: pd.DataFrame,
    *,
    labels: ArrayLike | None = None,
    holdout_share: float = 0.2,
    seed: int = 0,
) -> tuple[AnomalyModel, dict[str, Any]]:
    """Fit both kinds on the older ``1 - holdout_share`` of the rows (in the frame's order,
    time order), backtest both on the rest; the higher F1 wins (a tie: the lower false-alarm
    rate, then T²/Q, the cheaper and more explainable), refitted on every row. With
    ``labels`` (one per row) the models are fitted on the rows labelled normal only.
    Returns the model and ``{"chosen": kind, "backtest": {kind: metrics, …}}``."""
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share {holdout_share}: between 0 and 1 exclusive")
    if len(x) < MIN_ROWS:
        raise ValueError(f"{len(x)} readings: choosing a model needs at least {MIN_ROWS}")
    truth = None if labels is None else np.asarray(labels, dtype=bool)
    if truth is not None and len(truth) != len(x):
        raise ValueError(f"{len(truth)} labels for {len(x)} readings")
    normal = np.ones(len(x), dtype=bool) if truth is None else ~truth
    cut = min(max(2, round(len(x) * (1 - holdout_share))), len(x) - 1)
    train, holdout = x.iloc[:cut], x.iloc[cut:]
    backtest = {}
    for kind in KINDS:
        model = anomaly_fit(kind, train[normal[:cut]])
        backtest[kind] = anomaly_backtest(
            model, holdout, labels=None if truth is None else truth[cut:], seed=seed
        )
    chosen = max(KINDS, key=lambda k: (backtest[k]["f1"], -backtest[k]["far"], k == T2Q.kind))
    return anomaly_fit(chosen, x[normal]), {"chosen": chosen, "backtest": backtest}
