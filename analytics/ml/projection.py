"""The trajectory candidates' projection (``trajectory.py``) on a lifetime's features: the
library of the training lives' paths, and each row's projected RUL, elapsed share of life and
mismatch. Pure: frames in, frames out."""

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from . import trajectory, wear

if TYPE_CHECKING:
    from .lifetime import Lives

PROJECTED = 720  # minutes: the indicators' median the trajectory reads (half a day)
PROJECTION = ("proj_rul", "proj_share", "proj_mismatch")


def lag_h(window: int) -> float:
    """Hours: a rolling median over ``window`` minutes stands for the age half of it back."""
    return window / 120


def library_fit(
    features: pd.DataFrame,
    metrics: list[str],
    lives: "Lives",
    rows: ArrayLike | None = None,
    *,
    window: int = PROJECTED,
) -> trajectory.Trajectories | None:
    """The trajectory library of the failed lives (those wholly within ``rows``) on the
    indicators' ``window``-minute medians, and their gains' where ``features`` hold them (each
    life read in the form its path follows the more smoothly); None: none."""
    keep = np.ones(len(features), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    keep = pd.Series(keep).groupby(lives.life).transform("all").to_numpy(dtype=bool)
    keep = keep & (lives.life >= 0) & np.isfinite(lives.failed_h)
    if not keep.any():
        return None
    columns, gains = _indicators(metrics, window)
    try:
        return trajectory.trajectory_fit(
            features.loc[keep, columns].to_numpy(dtype=float),
            features.loc[keep, "age_h"].to_numpy(dtype=float),
            lives.life[keep],
            lives.failure_age_h[keep],
            lag_h=lag_h(window),
            gains=features.loc[keep, gains].to_numpy(dtype=float)
            if set(gains) <= set(features.columns)
            else None,
        )
    except ValueError:  # no failed life long enough
        return None


def _indicators(metrics: list[str], window: int) -> tuple[list[str], list[str]]:
    """The trajectory's columns: the indicators' ``window``-minute medians and their gains'."""
    return [f"{m}_hi{window}" for m in metrics], [f"{m}{wear.GAIN}_hi{window}" for m in metrics]


def with_projection(
    features: pd.DataFrame,
    metrics: list[str],
    library: trajectory.Trajectories | None,
    own_life: ArrayLike | None = None,
    *,
    window: int = PROJECTED,
) -> pd.DataFrame:
    """``features`` with the projection's RUL, elapsed share and mismatch (``PROJECTION``);
    ``own_life``: each row's life, left out of the library (a training row's). NaN without a
    library."""
    if library is None:
        return features.assign(**{c: np.nan for c in PROJECTION})
    columns, gains = _indicators(metrics, window)
    projection = trajectory.project(
        library,
        features[columns].to_numpy(dtype=float),
        features["age_h"].to_numpy(dtype=float),
        lag_h=lag_h(window),
        own_life=own_life,
        gains=features[gains].to_numpy(dtype=float) if library.reads_gains else None,
    )
    return features.assign(
        proj_rul=projection.rul_h, proj_share=projection.share, proj_mismatch=projection.mismatch
    )
