"""Trajectory extrapolation: power-law paths of the health indicators learned from complete
lives, a new life's failure age read off where its indicators stand."""

import dataclasses

import numpy as np
import pytest

from analytics.ml import trajectory


def _life(total_h: float, level: float, exponent: float, *, seed: int = 0) -> np.ndarray:
    """Hourly rows of a life failing at ``total_h``: a metric on ``level * share ** exponent``
    with a little noise, a second metric that does not move."""
    rng = np.random.default_rng(seed)
    age = np.arange(0.0, total_h, 1.0)
    moving = level * (age / total_h) ** exponent + rng.normal(0, 0.01, len(age))
    return np.c_[age, moving, rng.normal(0, 0.01, len(age))]


def _library(lives: list[np.ndarray]) -> trajectory.Trajectories:
    rows = np.concatenate(lives)
    life = np.concatenate([np.full(len(x), k) for k, x in enumerate(lives)])
    failed = np.concatenate([np.full(len(x), x[-1, 0] + 1.0) for x in lives])
    return trajectory.trajectory_fit(rows[:, 1:], rows[:, 0], life, failed)


def test_the_path_s_level_and_exponent_are_learned() -> None:
    library = _library([_life(500.0, 10.0, 1.6, seed=1), _life(800.0, 10.0, 1.6, seed=2)])
    assert library.exponents[:, 0] == pytest.approx([1.6, 1.6], abs=0.02)
    assert library.ends[:, 0] == pytest.approx([10.0, 10.0], rel=0.01)
    assert np.isnan(library.exponents[:, 1]).all()  # a metric that never moves has no path


def test_a_new_life_s_failure_age_from_where_its_indicator_stands() -> None:
    library = _library([_life(500.0, 10.0, 1.6, seed=1), _life(800.0, 10.0, 1.6, seed=2)])
    # a life failing at 600 h: at 540 h its indicator stands at 10 x 0.9 ** 1.6
    at = np.array([[10.0 * 0.9**1.6, 0.0]])
    out = trajectory.project(library, at, np.array([540.0]))
    assert out.share[0] == pytest.approx(0.9, abs=0.002)
    assert out.failure_age_h[0] == pytest.approx(600.0, rel=0.003)
    assert out.rul_h[0] == pytest.approx(60.0, abs=2.0)


def test_the_lag_of_a_rolling_median_is_taken_out() -> None:
    library = _library([_life(500.0, 10.0, 1.6, seed=1)])
    # the indicator stands for the age 12 h back: share 0.9 of a 600 h life at 552 h
    at = np.array([[10.0 * 0.9**1.6, 0.0]])
    out = trajectory.project(library, at, np.array([552.0]), lag_h=12.0)
    assert out.rul_h[0] == pytest.approx(48.0, abs=2.0)


def test_the_closest_mode_s_lives_decide_and_a_life_can_leave_itself_out() -> None:
    # two failure modes: one moves the first metric, the other the second (exponent 3)
    first = [_life(500.0, 10.0, 1.6, seed=s) for s in (1, 2)]
    other = _life(700.0, 10.0, 3.0, seed=3)[:, [0, 2, 1]]
    library = _library([*first, other])
    at = np.array([[0.0, 10.0 * 0.8**3.0]])  # on the second mode's path, share 0.8
    out = trajectory.project(library, at, np.array([400.0]))
    assert out.failure_age_h[0] == pytest.approx(500.0, rel=0.01)
    left_out = trajectory.project(library, at, np.array([400.0]), own_life=np.array([2]))
    assert left_out.mismatch[0] > 10 * out.mismatch[0]  # only the other mode's lives remain


def test_no_complete_life_is_an_error() -> None:
    rows = _life(100.0, 1.0, 1.6)
    with pytest.raises(ValueError):
        trajectory.trajectory_fit(
            rows[:, 1:], rows[:, 0], np.zeros(len(rows)), np.full(100, np.nan)
        )


def test_each_life_is_read_in_the_form_its_wear_takes() -> None:
    # Two failure modes under a load that swings over the day: one adds to the first metric
    # (an overheating's degrees: its departure follows the path whatever the load), the other
    # takes a share off the second (a seal leak's flow: its departure swings with the load,
    # its gain, the departure over the value expected, follows the path).
    def life(total_h: float, mode: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        age = np.arange(0.0, total_h, 1.0)
        expected = 20 + 40 * (0.6 + 0.3 * np.sin(2 * np.pi * age / 24))
        gain, absolute = np.zeros((len(age), 2)), np.zeros((len(age), 2))
        path = (age / total_h) ** (1.6 if mode == 0 else 2.0)
        absolute[:, 0] = (10.0 * path if mode == 0 else 0) + rng.normal(0, 0.01, len(age))
        gain[:, 0] = absolute[:, 0] / expected
        gain[:, 1] = (-0.5 * path if mode == 1 else 0) + rng.normal(0, 0.0002, len(age))
        absolute[:, 1] = gain[:, 1] * expected
        return np.c_[age, absolute], gain

    lives = [
        life(t, mode, seed)
        for seed, (t, mode) in enumerate([(500.0, 0), (800.0, 0), (600.0, 1), (900.0, 1)])
    ]
    rows = np.concatenate([a for a, _ in lives])
    ids = np.concatenate([np.full(len(a), k) for k, (a, _) in enumerate(lives)])
    failed = np.concatenate([np.full(len(a), a[-1, 0] + 1.0) for a, _ in lives])
    gains = np.concatenate([g for _, g in lives])
    library = trajectory.trajectory_fit(rows[:, 1:], rows[:, 0], ids, failed, gains=gains)
    assert library.gains is not None and library.gains.tolist() == [False, False, True, True]
    assert library.reads_gains and library.gain_scale is not None
    assert library.ends[2:, 1] == pytest.approx([-0.5, -0.5], rel=0.02)
    assert library.ends[:2, 0] == pytest.approx([10.0, 10.0], rel=0.02)
    # A seal leak 0.9 through a 700 h life, at any load (expected value 30 or 50): its gains
    # read on the second mode's lives, each in its own scale.
    for expected in (30.0, 50.0):
        gain = np.array([[0.0, -0.5 * 0.9**2.0]])
        at = gain * expected
        out = trajectory.project(library, at, np.array([630.0]), gains=gain)
        assert out.share[0] == pytest.approx(0.9, abs=0.01)
        assert out.failure_age_h[0] == pytest.approx(700.0, rel=0.02)
    # An overheating 0.9 through its life: read on the first mode's lives.
    at = np.array([[10.0 * 0.9**1.6, 0.0]])
    out = trajectory.project(library, at, np.array([540.0]), gains=at / 40)
    assert out.failure_age_h[0] == pytest.approx(600.0, rel=0.02)
    with pytest.raises(ValueError, match="gain indicators"):
        trajectory.project(library, at, np.array([540.0]))
    # One form given: no life reads gains.
    alone = trajectory.trajectory_fit(rows[:, 1:], rows[:, 0], ids, failed)
    assert alone.gains is None and not alone.reads_gains


def test_a_metric_its_wear_carries_in_with_the_load_counts_as_little_as_it_follows_its_path() -> (
    None
):
    # A seal leak's lives: the gain of the metric it takes a share off (the second) follows
    # its path; the first metric, fitted on the one the leak drained, takes in a share of the
    # leak that swings with the load (by half either way over the day) — at the start of a
    # life, where the noise scale is measured, the swing is nothing.
    def life(total_h: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        age = np.arange(0.0, total_h, 1.0)
        path = (age / total_h) ** 2.0
        gain = np.c_[
            0.2 * path * (1 + 0.5 * np.sin(2 * np.pi * age / 24)),
            -0.5 * path,
        ] + rng.normal(0, 0.0002, (len(age), 2))
        expected = 20 + 40 * (0.6 + 0.3 * np.sin(2 * np.pi * age / 24))
        return np.c_[age, gain * expected[:, None]], gain

    lives = [life(t, seed) for seed, t in enumerate([600.0, 900.0, 750.0])]
    rows = np.concatenate([a for a, _ in lives])
    ids = np.concatenate([np.full(len(a), k) for k, (a, _) in enumerate(lives)])
    failed = np.concatenate([np.full(len(a), a[-1, 0] + 1.0) for a, _ in lives])
    gains = np.concatenate([g for _, g in lives])
    library = trajectory.trajectory_fit(rows[:, 1:], rows[:, 0], ids, failed, gains=gains)
    assert library.gains is not None and library.gains.all()
    assert library.wander is not None and (library.wander[:, 0] > 50 * library.wander[:, 1]).all()
    # 0.9 through a 700 h life at the load's trough: the first metric half its usual share.
    gain = np.array([[0.2 * 0.9**2.0 * 0.5, -0.5 * 0.9**2.0]])
    out = trajectory.project(library, gain * 30, np.array([630.0]), gains=gain)
    assert out.share[0] == pytest.approx(0.9, abs=0.01)
    assert out.failure_age_h[0] == pytest.approx(700.0, rel=0.02)
    # measured on the noise at the start of the life alone, the swing moves the share
    alone = dataclasses.replace(library, wander=None)
    off = trajectory.project(alone, gain * 30, np.array([630.0]), gains=gain)
    assert abs(off.failure_age_h[0] - 700.0) > 0.05 * 700.0
