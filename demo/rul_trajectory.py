"""The simulator evaluation's trajectory candidate: each device type's library of training
lives (``trajectory.trajectory_fit`` on the daily health indicators) and each minute's
projection against it (``trajectory.project``), as feature columns. The lives are those of
``wear.lives``, their failure ages from the fleet's RUL truth."""

import numpy as np
import pandas as pd

from analytics.ml import trajectory, wear
from demo.fleet_history import Fleet

PROJECTED = 1440  # readings: the rolling median the trajectory reads (a day: the load's cycle)


def life_ages(fleet: Fleet, kind: str, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's life (``wear.lives``) and the age (hours) at which that life failed, NaN when
    its failure lies beyond the range (censored)."""
    truth = fleet.rul[fleet.types() == kind]
    life = wear.lives(
        truth.index.get_level_values("device"), truth.index.get_level_values("minute")
    )
    hours = truth["rul_seconds"].to_numpy() / 3600
    failed = np.where(truth["censored"].to_numpy().astype(bool), np.nan, features["age_h"] + hours)
    return life, pd.Series(failed).groupby(life).transform("max").to_numpy()


def with_projection(
    fleet: Fleet,
    kind: str,
    features: pd.DataFrame,
    metrics: list[str],
    library: trajectory.Trajectories | None,
    *,
    own: bool,
) -> pd.DataFrame:
    """``features`` with the trajectory projection's RUL, elapsed share and mismatch
    (``proj_rul``, ``proj_share``, ``proj_mismatch``); ``own``: a row's own life left out of
    the library (the training fleet's rows, as a new device's would be). NaN without a
    library."""
    if library is None:
        return features.assign(proj_rul=np.nan, proj_share=np.nan, proj_mismatch=np.nan)
    life = life_ages(fleet, kind, features)[0] if own else None
    columns = [f"{m}_hi{PROJECTED}" for m in metrics]
    projection = trajectory.project(
        library,
        features[columns].to_numpy(dtype=float),
        features["age_h"].to_numpy(dtype=float),
        lag_h=PROJECTED / 120,
        own_life=life,
    )
    return features.assign(
        proj_rul=projection.rul_h, proj_share=projection.share, proj_mismatch=projection.mismatch
    )


def trajectory_library(
    fleet: Fleet,
    kind: str,
    features: pd.DataFrame,
    metrics: list[str],
    rows: np.ndarray | None = None,
) -> trajectory.Trajectories | None:
    """The complete lives' trajectories (of those wholly within ``rows``); None: none."""
    life, failed = life_ages(fleet, kind, features)
    keep = np.ones(len(life), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    keep = pd.Series(keep).groupby(life).transform("all").to_numpy()
    columns = [f"{m}_hi{PROJECTED}" for m in metrics]
    if not np.isfinite(failed[keep]).any():
        return None
    return trajectory.trajectory_fit(
        features.loc[keep, columns].to_numpy(dtype=float),
        features.loc[keep, "age_h"].to_numpy(dtype=float),
        life[keep],
        failed[keep],
        lag_h=PROJECTED / 120,
    )


def projected(x: pd.DataFrame, *, knee: float) -> np.ndarray:
    """The trajectory candidate's RUL (hours): the projection, ``knee`` where no library life
    fits (early in life, nothing says more)."""
    return np.clip(np.nan_to_num(x["proj_rul"].to_numpy(dtype=float), nan=knee), 0, None)
