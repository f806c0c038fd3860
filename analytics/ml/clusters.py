"""Behaviour clusters: how the fleet's devices behave, window by window, and which windows
behave like nothing else.

Each device's readings are cut into consecutive windows; a window is described by the mean, the
spread and the trend of each signal (``window_stats``). Scaled, they are clustered by DBSCAN with
``eps`` read off the data: the knee of the sorted k-distance curve (the point farthest from the
chord between its ends, as Kneedle finds it), so no one has to guess a distance in standardised
units. Windows in no dense region are noise (label -1): the outliers. A 3-D PCA projection of
every window is kept for plotting.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.cluster import DBSCAN
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler


@dataclass
class Clusters:
    labels: NDArray[np.int64]  # per window; -1 = noise (an outlier)
    eps: float
    min_samples: int
    coords: NDArray[np.float64]  # (windows, 3): the PCA projection
    explained: list[float]  # variance ratio of each of the three axes
    counts: dict[int, int]  # windows per label
    anomalies: dict[int, int]  # flagged windows per label (when flags were given)


def window_stats(
    frame: pd.DataFrame, *, unit: str, time: str, signals: Sequence[str], rows: int
) -> pd.DataFrame:
    """Per unit, consecutive non-overlapping windows of ``rows`` readings (a short last one is
    dropped): ``<s>_mean``, ``<s>_std``, ``<s>_slope`` (per reading) of each signal; index
    (unit, the window's first time)."""
    data = frame.sort_values([unit, time], kind="stable")
    position = data.groupby(unit, sort=False).cumcount()
    window = position // rows
    full = data.groupby([data[unit], window])[time].transform("size") == rows
    data, window = data[full], window[full]
    # The least-squares slope of a full window: Σ tc·v / Σ tc², tc the reading's place in its
    # window measured from the window's centre (Σ tc = 0, so the values' mean drops out).
    centred = (position[full] % rows).to_numpy(float) - (rows - 1) / 2
    spread = float(np.sum(np.square(np.arange(rows) - (rows - 1) / 2)))
    keys = [data[unit], window]
    grouped = data.groupby(keys, sort=True)
    out = {"_start": grouped[time].first()}
    for s in signals:
        values = grouped[s]
        out[f"{s}_mean"] = values.mean()
        out[f"{s}_std"] = values.std(ddof=0)
        moment = (data[s].to_numpy(float) * centred).astype(float)
        sums = pd.Series(moment, index=data.index).groupby(keys, sort=True).sum(min_count=rows)
        out[f"{s}_slope"] = sums / spread if spread else sums * 0.0
    stats = pd.DataFrame(out)
    stats.index = pd.MultiIndex.from_arrays(
        [stats.index.get_level_values(0), stats.pop("_start")], names=[unit, time]
    )
    return stats


# DBSCAN's neighbourhoods grow with the square of the windows in a dense cluster: it is fitted on
# at most this many (a seeded sample) and every other window takes the label of its nearest core
# window within eps (noise beyond it), which is how a fitted DBSCAN labels a new point.
FIT_WINDOWS = 5000


def knee(curve: NDArray[np.float64]) -> float:
    """The value at the knee of an increasing curve: the point farthest from its chord."""
    y = np.sort(np.asarray(curve, dtype=float))
    if len(y) < 3 or y[-1] == y[0]:
        return float(y[-1]) if len(y) else 0.0
    x = np.linspace(0.0, 1.0, len(y))
    yn = (y - y[0]) / (y[-1] - y[0])
    return float(y[int(np.argmax(x - yn))])


def behaviour_clusters(
    stats: pd.DataFrame, *, min_samples: int | None = None, flags: NDArray[np.bool_] | None = None
) -> Clusters:
    """DBSCAN over the scaled window statistics with eps at the k-distance knee."""
    n = len(stats)
    k = min_samples or max(4, min(20, 2 * stats.shape[1]))
    x = StandardScaler().fit_transform(stats.to_numpy(float)) if n else np.zeros((0, 1))
    x = np.nan_to_num(x)
    if n <= k:
        labels = np.zeros(n, dtype=np.int64)
        eps = 0.0
    else:
        fitted = np.arange(n)
        if n > FIT_WINDOWS:
            rng = np.random.default_rng(0)
            fitted = np.sort(rng.choice(n, FIT_WINDOWS, replace=False))
        sample = x[fitted]
        distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(sample).kneighbors(sample)
        eps = max(knee(distances[:, -1]), 1e-6)
        model = DBSCAN(eps=eps, min_samples=k).fit(sample)
        labels = np.full(n, -1, dtype=np.int64)
        labels[fitted] = model.labels_
        rest = np.setdiff1d(np.arange(n), fitted)
        cores = model.core_sample_indices_
        if len(rest) and len(cores):
            near, at = NearestNeighbors(n_neighbors=1).fit(sample[cores]).kneighbors(x[rest])
            labels[rest] = np.where(near[:, 0] <= eps, model.labels_[cores][at[:, 0]], -1).astype(
                np.int64
            )
    components = min(3, x.shape[1], n)
    coords = np.zeros((n, 3))
    explained = [0.0, 0.0, 0.0]
    if components >= 1 and n >= 2:
        pca = PCA(n_components=components).fit(x)
        coords[:, :components] = pca.transform(x)
        explained[:components] = [float(v) for v in pca.explained_variance_ratio_]
    values, counts = np.unique(labels, return_counts=True)
    flagged: dict[int, int] = {}
    if flags is not None:
        for label in values:
            flagged[int(label)] = int(np.sum(np.asarray(flags, bool)[labels == label]))
    return Clusters(
        labels=labels,
        eps=float(eps),
        min_samples=k,
        coords=coords,
        explained=explained,
        counts={int(v): int(c) for v, c in zip(values, counts, strict=True)},
        anomalies=flagged,
    )
