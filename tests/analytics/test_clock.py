"""The use clock: the plant's week as wear sees it, learnt from the machines' own signals, and a
lifetime model's clock hours turned back into wall hours."""

import numpy as np
import pandas as pd
import pytest

from analytics.ml import clock, lifetime

MONDAY = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday
# Weekdays at 1.2, the weekend at 0.5: 120 x 1.2 + 48 x 0.5 = 168, a week of clock hours.
WEEKEND_HALF = clock.Clock(tuple([1.2] * 120 + [0.5] * 48))


def _hours(at: pd.Timestamp) -> float:
    return at.value / 3.6e12


def test_a_week_on_the_clock_is_a_week_and_the_wall_is_its_inverse() -> None:
    start = _hours(MONDAY)
    wall = start + np.array([0.0, 30.5, 119.0, 130.25, 168.0, 500.0])
    on = WEEKEND_HALF.hours(wall)
    assert on[-2] - on[0] == pytest.approx(168.0)  # a whole week is a week
    assert on[1] - on[0] == pytest.approx(30.5 * 1.2)  # Monday into Tuesday at 1.2
    assert on[3] - on[2] == pytest.approx(1 * 1.2 + 10.25 * 0.5)  # Friday's last hour, Saturday
    assert WEEKEND_HALF.wall(on) == pytest.approx(wall)
    assert np.isnan(WEEKEND_HALF.hours([np.nan])).all()


def test_friday_evening_s_ten_hours_of_use_run_into_the_quiet_weekend() -> None:
    friday_20 = _hours(MONDAY + pd.Timedelta(days=4, hours=20))
    # 4 wall hours to midnight give 4.8 clock hours; the other 5.2 take 10.4 at 0.5 an hour
    assert WEEKEND_HALF.ahead([friday_20], [10.0])[0] == pytest.approx(14.4)
    tuesday = _hours(MONDAY + pd.Timedelta(days=1))
    assert WEEKEND_HALF.ahead([tuesday], [12.0])[0] == pytest.approx(10.0)


def _plant(days: int, *, voltage_sign: float = -1.0) -> pd.DataFrame:
    """Minutes of one machine on a shift calendar: loaded 06-22 on weekdays, light otherwise;
    its current rises with the load, its voltage moves the other way (or with it)."""
    minute = pd.date_range(MONDAY, periods=days * 1440, freq="min")
    hour = minute.hour.to_numpy()
    busy = (hour >= 6) & (hour < 22) & (minute.dayofweek.to_numpy() < 5)
    load = np.where(busy, 0.8, 0.3)
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "current": 10 + 20 * load + rng.normal(0, 0.5, len(load)),
            "voltage": 400 + voltage_sign * 6 * load + rng.normal(0, 0.5, len(load)),
        },
        index=pd.MultiIndex.from_arrays([["m"] * len(load), minute], names=["device", "minute"]),
    )


@pytest.mark.parametrize("voltage_sign", [-1.0, 1.0])
def test_the_clock_runs_with_the_load_however_the_metrics_move_with_it(
    voltage_sign: float,
) -> None:
    learnt = clock.clock_fit(_plant(14, voltage_sign=voltage_sign), idle=1.0)
    assert learnt is not None
    rate = np.array(learnt.rate)
    assert rate.mean() == pytest.approx(1.0)
    busy, quiet = rate[10], rate[2]  # Monday 10:00, Monday 02:00
    assert busy / quiet == pytest.approx(2.0, rel=0.05)  # idle + 1 against idle + 0
    assert rate[24 * 5 + 10] == pytest.approx(quiet, rel=0.05)  # Saturday 10:00 is quiet


def test_no_clock_without_a_week_s_pattern_to_learn() -> None:
    assert clock.clock_fit(_plant(14).iloc[: 20 * 60]) is None  # 20 hours of the week
    flat = _plant(14).assign(current=5.0, voltage=400.0)
    assert clock.clock_fit(flat) is None


def test_a_model_on_the_use_clock_answers_in_wall_hours() -> None:
    friday_20 = MONDAY + pd.Timedelta(days=4, hours=20)
    features = pd.DataFrame(
        {"age_h": [100.0, 100.0], "proj_rul": [10.0, 10.0]},
        index=pd.MultiIndex.from_arrays(
            [["m", "m"], [friday_20, MONDAY + pd.Timedelta(days=1)]], names=["device", "minute"]
        ),
    )
    on_clock = lifetime.LifetimeModel("trajectory", [], [], None, None, True, clock=WEEKEND_HALF)
    on_wall = lifetime.LifetimeModel("trajectory", [], [], None, None, True)
    assert on_clock.point(features) == pytest.approx([14.4, 10.0 / 1.2])
    assert on_wall.point(features) == pytest.approx([10.0, 10.0])
    far = features.assign(proj_rul=[1000.0, -5.0])  # a path that has hardly risen; one past it
    assert on_wall.point(far) == pytest.approx([lifetime.KNEE_HOURS, 0.0])
    # its age too: Friday 20:00 less 100 wall hours is Monday 16:00, 100 h at 1.2 before
    assert lifetime.on_clock(features, WEEKEND_HALF)["age_h"].iloc[0] == pytest.approx(120.0)
