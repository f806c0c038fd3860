"""The simulator evaluation's anomaly detection as the platform's apply cycle combines it: each
minute's score is the largest of the type's multivariate model (T²+Q or IsolationForest, chosen
by backtest and trained on normal operation as ``analytics.training.anomaly_train`` does) over
twice its limit (``scoring.MULTIVARIATE_LIMIT``), the
device's residual against its own fit over the threshold, and a stuck sensor's fixed score; a
minute counts as flagged while an anomaly spell is open (opened above 1.0, ended below 0.8:
``detectors.spells``). What an operator sees of a device's status, minute by minute."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analytics import rules, scoring, training
from analytics.ml import anomaly as anomaly_ml
from analytics.ml import detectors, frames
from demo.fleet_history import Fleet

# The residual threshold: each type's as the evaluation chose it (what an admin sets as the
# type's ``residual_threshold``), and the default.
THRESHOLDS: dict[str, float | None] = {"threshold as chosen": None, "threshold 6": 6.0}


def multivariate(train: Fleet, kind: str, signals: list[str]) -> anomaly_ml.AnomalyModel:
    """The type's multivariate model as the platform trains it: on the complete minutes outside
    every labelled window, in time order, the kind chosen by backtest on the newest fifth."""
    x = train.minutes.loc[train.types() == kind, signals]
    inside = frames.labelled_minutes(train.labels, x.index).to_numpy()
    normal = x[~inside].dropna().sort_index(level="minute", kind="stable")
    model, _ = anomaly_ml.anomaly_choose(
        normal, holdout_share=training.HOLDOUT_SHARE, seed=training.SEED
    )
    return model


def cycle_flags(
    model: anomaly_ml.AnomalyModel,
    x: pd.DataFrame,
    residual_z: np.ndarray,
    stuck_runs: np.ndarray,
    threshold: float,
) -> np.ndarray:
    """The minutes of ``x`` (complete, device by device in time order) inside a spell when the
    residual threshold is ``threshold``; ``residual_z`` the largest |z| of each minute,
    ``stuck_runs`` its longest run of a repeated value."""
    multivariate = model.score(x[model.signals]) / scoring.MULTIVARIATE_LIMIT
    score = np.maximum(multivariate, residual_z / threshold)
    score = np.where(stuck_runs >= rules.STUCK_MINUTES, np.maximum(score, rules.STUCK_SCORE), score)
    return detectors.spells(
        score,
        x.index.get_level_values("device").to_numpy(),
        open_level=1.0,
        clear_level=scoring.CLEAR_LEVEL,
    )


def by_threshold(
    model: anomaly_ml.AnomalyModel,
    x: pd.DataFrame,
    scores: tuple[np.ndarray, np.ndarray],
    rows: np.ndarray,
    chosen: float,
) -> dict[str, np.ndarray]:
    """``cycle_flags`` of the ``rows`` of the detector's ``scores`` (``x``: those rows) with
    each of THRESHOLDS (None: the ``chosen`` one)."""
    z, runs = scores[0][rows], scores[1][rows]
    return {
        name: cycle_flags(model, x, z, runs, chosen if limit is None else limit)
        for name, limit in THRESHOLDS.items()
    }


def table(types: Sequence[str], pooled: dict[str, list[Any]], truth: np.ndarray) -> list[str]:
    """The minutes inside the cycle's spells against the labels, by type (``pooled[name]``: a
    flags array per type, ``pooled["truth"]`` their labels) and overall (``truth``)."""
    lines = [
        "as the platform's apply cycle combines them (the larger of the type's multivariate "
        f"model over {scoring.MULTIVARIATE_LIMIT:g}x its limit, the residual |z| over the "
        "threshold and a stuck sensor's 2.0; a minute "
        "flagged while a spell is open: above 1.0, until below 0.8):",
        f"{'type':<15}" + "".join(f"{name:>34}" for name in THRESHOLDS),
    ]
    for k, kind in enumerate([*types, "overall"]):
        cells = []
        for name in THRESHOLDS:
            overall = kind == "overall"
            flags = np.concatenate(pooled[name]) if overall else pooled[name][k]
            r = anomaly_ml.confusion(flags, truth if overall else pooled["truth"][k])
            cells.append(f"F1 {r['f1']:.2f}, false {r['far']:.1%}, missed {r['mar']:.1%}")
        lines.append(f"{kind:<15}" + "".join(f"{c:>34}" for c in cells))
    return lines
