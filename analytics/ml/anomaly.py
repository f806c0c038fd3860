"""Multivariate anomaly detection: PCA on normal operation with Hotelling's T² (distance inside
the model's plane) and Q, the squared prediction error (distance from it), each with a limit
from the training scores. A reading is anomalous when either is beyond its limit; the larger
share of the excess says which, and the residuals say which signals drove it.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.decomposition import PCA

VARIANCE = 0.90  # components kept: those explaining this share of the normal variance
QUANTILE = 0.99  # limits: this quantile of the training T² and Q


@dataclass
class T2Q:
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    pca: PCA
    t2_limit: float
    q_limit: float

    def scores(self, x: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        z = (np.asarray(x, dtype=float) - self.mean) / self.scale
        projected = self.pca.transform(z)
        t2 = np.sum(projected**2 / self.pca.explained_variance_, axis=1)
        residual = z - self.pca.inverse_transform(projected)
        q = np.sum(residual**2, axis=1)
        return t2, q

    def flags(self, x: ArrayLike) -> NDArray[np.bool_]:
        t2, q = self.scores(x)
        return (t2 > self.t2_limit) | (q > self.q_limit)


def t2q_fit(x: ArrayLike, *, variance: float = VARIANCE, quantile: float = QUANTILE) -> T2Q:
    """Fit on readings of normal operation (rows: readings, columns: signals)."""
    data = np.asarray(x, dtype=float)
    mean = data.mean(axis=0)
    scale = data.std(axis=0)
    scale[scale == 0] = 1.0
    z = (data - mean) / scale
    pca = PCA(n_components=variance, svd_solver="full").fit(z)
    model = T2Q(mean=mean, scale=scale, pca=pca, t2_limit=np.inf, q_limit=np.inf)
    t2, q = model.scores(data)
    model.t2_limit = float(np.quantile(t2, quantile))
    model.q_limit = float(np.quantile(q, quantile))
    return model


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
