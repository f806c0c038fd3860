"""The lifetime model's choice and training (``lifetime.py``'s candidates): each candidate fitted
on the range's earlier part and measured within ±15 % over the last 20 % of the lives failing in
its last share (``lifetime_choose``), then the chosen one fitted on all of it with its interval
(``lifetime_train``) — as the platform trains it and the simulator evaluation measures it.
Pure: frames and arrays in, a model out."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from . import rul
from .lifetime import (
    BAND_EDGES,
    CANDIDATES,
    FALLBACK,
    LAST_SHARE,
    TOLERANCE,
    TRAIN_EVERY,
    VALIDATION_EVERY,
    VALIDATION_SHARE,
    LifetimeModel,
    Lives,
    library_fit,
    life_features,
    lifetime_fit,
    lifetime_target,
    new_device_fit,
    with_projection,
)


def last_of_life(lives: Lives, share: float = LAST_SHARE) -> NDArray[np.bool_]:
    """The rows in the last ``share`` of a failed life: what RUL is measured on."""
    failed = (lives.life >= 0) & np.isfinite(lives.failed_h)
    with np.errstate(invalid="ignore"):
        return failed & (lives.age_h >= (1 - share) * lives.failure_age_h)


def within(predicted: ArrayLike, actual: ArrayLike, life: ArrayLike) -> float:
    """The share of rows within ±15 %, averaged over the lives (``life``: their ids)."""
    p, a, k = (np.asarray(v) for v in (predicted, actual, life))
    good = np.abs(p - a) <= TOLERANCE * a
    return float(np.mean([np.mean(good[k == i]) for i in np.unique(k)]))


@dataclass
class Choice:
    """The candidate chosen on held-out lives: its name, each candidate's share within ±15 %
    and RMSE (hours) over the last 20 % of the held-out lives (the rows ``measured``), how
    many lives those were, and the chosen one's predictions at every held-out row of a failed
    life (``held``) for the interval."""

    name: str
    shares: dict[str, float]
    rmses: dict[str, float]
    lives: int
    measured: NDArray[np.bool_]
    held: NDArray[np.bool_]
    point: NDArray[np.float64]

    @property
    def share(self) -> float:
        return self.shares.get(self.name, np.nan)

    @property
    def rmse(self) -> float:
        return self.rmses.get(self.name, np.nan)


def lifetime_choose(
    features: pd.DataFrame,
    metrics: list[str],
    coefficients: list[NDArray[np.float64]],
    lives: Lives,
    *,
    end_h: float,
    validation_share: float = VALIDATION_SHARE,
) -> Choice:
    """Each candidate fitted on the rows before the range's last ``validation_share`` (by
    time), measured within ±15 % over the last 20 % of the lives that fail after it: the best
    (ties: the later name) is chosen; ``FALLBACK`` when no life fails there."""
    start, stop = np.nanmin(lives.now_h), np.nanmax(lives.now_h)
    early = lives.now_h < start + (stop - start) * (1 - validation_share)
    end = last_of_life(lives) & ~early
    held = (lives.life >= 0) & np.isfinite(lives.failed_h) & ~early
    if not end.any():
        return Choice(FALLBACK, {}, {}, 0, end, held & False, np.zeros(0))
    actual = lives.hours_left[end]
    library = library_fit(features, metrics, lives, early)
    features = with_projection(features, metrics, library, own_life=lives.life)
    models, results, rmses = {}, [], {}
    for name in CANDIDATES:
        model = lifetime_fit(
            features,
            metrics,
            coefficients,
            lives,
            name,
            end_h=end_h,
            every=VALIDATION_EVERY,
            rows=early,
            library=library,
        )
        predicted = model.point(features[end])
        models[name] = model
        results.append((within(predicted, actual, lives.life[end]), name))
        rmses[name] = rul.rmse(predicted, actual)
    _, chosen = max(results)
    return Choice(
        chosen,
        {name: s for s, name in results},
        rmses,
        int(np.unique(lives.life[end]).size),
        end,
        held,
        models[chosen].point(features[held]),
    )


@dataclass
class Trained:
    """A type's trained lifetime model (its interval's bands set when lives were held out),
    the choice that made it, and the training rows' features."""

    model: LifetimeModel
    choice: Choice
    features: pd.DataFrame


class NoHeldOutLife(ValueError):
    """No life fails in the range's last share: nothing to choose on and measure."""


def lifetime_train(
    values: pd.DataFrame, lives: Lives, *, end_h: float, require_held_out: bool = True
) -> Trained:
    """The whole training, as the platform and the simulator evaluation run it: the new-device
    fit (ValueError: too few new minutes), the features, the candidate chosen on held-out lives
    (``NoHeldOutLife`` without one, unless not ``require_held_out``: then ``FALLBACK``), fitted
    on every ``TRAIN_EVERY``-th minute of all of them, with split-conformal bands from the
    held-out lives' errors (80 % of their minutes inside, by range of the prediction) against
    the capped hours the model knows."""
    metrics = list(values.columns)
    coefficients = new_device_fit(values, lives)
    features = life_features(values, lives, coefficients)
    choice = lifetime_choose(features, metrics, coefficients, lives, end_h=end_h)
    if require_held_out and not choice.lives:
        raise NoHeldOutLife(
            f"no run to failure ends in the last {VALIDATION_SHARE:.0%} of the range "
            "to choose the model and measure it on"
        )
    model = lifetime_fit(
        features,
        metrics,
        coefficients,
        lives,
        choice.name,
        end_h=end_h,
        every=TRAIN_EVERY,
        library=library_fit(features, metrics, lives),
    )
    if choice.lives:
        target, _ = lifetime_target(lives, end_h)
        model.bands = rul.conformal_bands(choice.point, target[choice.held], edges=BAND_EDGES)
    return Trained(model, choice, features)
