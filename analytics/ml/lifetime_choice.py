"""The lifetime model's choice and training (``lifetime.py``'s candidates): each candidate
cross-validated over groups of the failed lives, measured within ±15 % over the last 20 % of
each life by models fitted without it (``lifetime_choose``), then the chosen one fitted on all
of them with its interval (``lifetime_train``) — as the platform trains it and the simulator
evaluation measures it.
Pure: frames and arrays in, a model out."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from . import rul
from .clock import Clock, clock_fit
from .lifetime import (
    BAND_EDGES,
    CANDIDATES,
    FALLBACK,
    FOLDS,
    LAST_SHARE,
    TOLERANCE,
    TRAIN_EVERY,
    VALIDATION_EVERY,
    LifetimeModel,
    Lives,
    life_features,
    lifetime_fit,
    lifetime_target,
    new_device_fit,
    new_device_levels,
    on_clock,
)
from .projection import PROJECTION, library_fit, with_projection

USE = "@use"  # a candidate's name with this suffix: its lives measured on the use clock
SHARE_MARGIN = 0.02  # shares closer than this to the best are taken as equal (``_closest``)


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
    """The candidate chosen on held-out lives: its name (``USE`` appended: on the use clock),
    each candidate's share within ±15 % and RMSE (hours) over the last 20 % of the held-out
    lives (the rows ``measured``), how many lives those were, the chosen one's predictions
    there (``measured_point``) and at every ``TRAIN_EVERY``-th row of the held-out lives
    (``held``, ``point``) for the interval — each by a model fitted without that life — and
    the chosen one's clock (None: wall hours), and every candidate's predictions over the
    rows ``measured`` (``measured_points``)."""

    name: str
    shares: dict[str, float]
    rmses: dict[str, float]
    lives: int
    measured: NDArray[np.bool_]
    held: NDArray[np.bool_]
    point: NDArray[np.float64]
    measured_point: NDArray[np.float64]
    clock: Clock | None = None
    measured_points: dict[str, NDArray[np.float64]] = field(default_factory=dict)

    @property
    def candidate(self) -> str:
        """The chosen candidate's name in ``lifetime.CANDIDATES``."""
        return self.name.removesuffix(USE)

    @property
    def share(self) -> float:
        return self.shares.get(self.name, np.nan)

    @property
    def rmse(self) -> float:
        return self.rmses.get(self.name, np.nan)


def _subset(lives: Lives, rows: NDArray[np.bool_]) -> Lives:
    return Lives(lives.life[rows], lives.born_h[rows], lives.failed_h[rows], lives.now_h[rows])


def lifetime_choose(
    features: pd.DataFrame,
    metrics: list[str],
    coefficients: list[NDArray[np.float64]],
    lives: Lives,
    *,
    end_h: float,
    folds: int = FOLDS,
    clock: Clock | None = None,
) -> Choice:
    """Cross-validated over the failed lives, ``folds`` groups of them in turn: each candidate
    fitted (on every ``VALIDATION_EVERY``-th minute) without a group's lives, its trajectory
    library without them too, and measured on them — within ±15 % over the last 20 % of each
    life, pooled over all of them, so every run to failure is measured once by models that
    never saw it. With a use ``clock`` every candidate is also tried with its lives measured on
    it (``USE``). Of those within ``SHARE_MARGIN`` of the best share the one with the smallest
    RMSE is chosen (``_closest``); ``FALLBACK`` with fewer than two failed lives (nothing to
    measure on)."""
    n = len(lives.life)
    failed = np.unique(lives.life[(lives.life >= 0) & np.isfinite(lives.failed_h)])
    end = last_of_life(lives)
    held = (lives.life >= 0) & np.isfinite(lives.failed_h) & (np.arange(n) % TRAIN_EVERY == 0)
    k = min(folds, len(failed))
    if k < 2:
        none = np.zeros(n, dtype=bool)
        return Choice(FALLBACK, {}, {}, 0, none, none, np.zeros(0), np.zeros(0))
    group = np.full(n, -1)
    inside = np.isin(lives.life, failed)
    group[inside] = np.searchsorted(failed, lives.life[inside]) % k
    sampled = np.arange(n) % VALIDATION_EVERY == 0
    clocks: dict[str, Clock | None] = {"": None} if clock is None else {"": None, USE: clock}
    names = [name + suffix for suffix in clocks for name in CANDIDATES]
    predicted = {name: np.full(n, np.nan) for name in names}
    timed = {suffix: (on_clock(features, on), lives.on(on)) for suffix, on in clocks.items()}
    for g in range(k):
        out = group == g
        train = ~out & sampled
        rows = train | (out & (end | held))
        test = out[rows] & (end | held)[rows]
        sub_lives = _subset(lives, rows)
        for suffix, on in clocks.items():
            on_features, on_lives = timed[suffix]
            library = library_fit(on_features, metrics, on_lives, ~out)  # every minute of others
            projected = with_projection(
                on_features[rows], metrics, library, own_life=sub_lives.life
            )
            sub = features[rows].assign(**{c: projected[c] for c in PROJECTION})
            for name in CANDIDATES:
                model = lifetime_fit(
                    sub,
                    metrics,
                    coefficients,
                    sub_lives,
                    name,
                    end_h=end_h,
                    every=1,
                    rows=train[rows],
                    library=library,
                    clock=on,
                )
                predicted[name + suffix][np.flatnonzero(rows)[test]] = model.point(sub[test])
    actual = lives.hours_left[end]
    shares = {name: within(p[end], actual, lives.life[end]) for name, p in predicted.items()}
    rmses = {name: rul.rmse(p[end], actual) for name, p in predicted.items()}
    chosen = _closest(names, shares, rmses)
    return Choice(
        chosen,
        shares,
        rmses,
        len(failed),
        end,
        held,
        predicted[chosen][held],
        predicted[chosen][end],
        clock if chosen.endswith(USE) else None,
        {name: p[end] for name, p in predicted.items()},
    )


def _closest(names: list[str], shares: dict[str, float], rmses: dict[str, float]) -> str:
    """The best share, unless another candidate's share is as good within ``SHARE_MARGIN`` and
    its RMSE smaller: a few held-out lives cannot tell shares that close apart (one life moves
    a type's share by several points), and of two such candidates the one whose misses are
    the smaller in hours is the one to trust — a projection running a hundred hours past a
    failure costs one life's share no more than a near miss. Ties: the later name."""
    best = max(shares[name] for name in names)
    close = [name for name in names if shares[name] >= best - SHARE_MARGIN]
    return max(close, key=lambda name: (-np.nan_to_num(rmses[name], nan=np.inf), name))


@dataclass
class Trained:
    """A type's trained lifetime model (its interval's bands set when lives were held out),
    the choice that made it, and the training rows' features."""

    model: LifetimeModel
    choice: Choice
    features: pd.DataFrame


class NoHeldOutLife(ValueError):
    """Fewer than two failed lives: none to measure on that the others did not see."""


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
    levels = new_device_levels(values, lives)
    features = life_features(values, lives, coefficients, levels=levels)
    clock = clock_fit(values)
    choice = lifetime_choose(features, metrics, coefficients, lives, end_h=end_h, clock=clock)
    if require_held_out and not choice.lives:
        raise NoHeldOutLife(
            f"{len(np.unique(lives.life[np.isfinite(lives.failed_h)]))} runs to failure, "
            "at least two needed to choose the model and measure it on one the others did "
            "not see"
        )
    model = lifetime_fit(
        features,
        metrics,
        coefficients,
        lives,
        choice.candidate,
        end_h=end_h,
        every=TRAIN_EVERY,
        clock=choice.clock,
        levels=levels,
    )
    if choice.lives:
        target, _ = lifetime_target(lives, end_h)
        model.bands = rul.conformal_bands(choice.point, target[choice.held], edges=BAND_EDGES)
    return Trained(model, choice, features)
