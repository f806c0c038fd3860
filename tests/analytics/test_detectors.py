from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analytics.ml.detectors import (
    latest_flags,
    latest_stuck,
    latest_zscores,
    outside,
    quantile_bounds,
    quantile_flags,
    saturated_values,
    spells,
    stuck_flags,
    stuck_runs,
    threshold_flags,
    value_flags,
    zscore_flags,
)
from telemetry import analysis
from tests.telemetry.known_readings import T0, write


def test_threshold_flags_name_the_metric_and_how_far() -> None:
    frame = pd.DataFrame({"temperature": [70.0, 80.0, 90.0], "battery": [50.0, 25.0, 40.0]})
    flags = threshold_flags(
        frame,
        {"temperature": {"warn_high": 85.0}, "battery": {"warn_low": 30.0}, "absent": {}},
    )
    assert [(f.row, f.metric, f.value, f.score) for f in flags] == [
        (2, "temperature", 90.0, 5.0),
        (1, "battery", 25.0, 5.0),
    ]


def test_zscore_flags_the_jump_against_the_previous_window() -> None:
    steady = [10.0, 10.2, 9.8, 10.1, 9.9] * 4  # 20 readings: mean 10, std about 0.158
    frame = pd.DataFrame({"pressure": [*steady, 13.0], "flow": [5.0] * 21})
    flags = zscore_flags(frame)
    assert [(f.row, f.metric, f.detector) for f in flags] == [(20, "pressure", "zscore")]
    expected = (13.0 - 10.0) / pd.Series(steady).std()
    assert flags[0].score == pytest.approx(expected)
    assert flags[0].value == 13.0
    # A constant metric never divides by zero into a flag; a shorter history flags nothing.
    assert zscore_flags(frame.iloc[:20]) == []


def _units(**series: list[float]) -> pd.DataFrame:
    """A (unit, minute) frame of one metric, ``pressure``, a list of values per unit."""
    parts = []
    for unit, values in series.items():
        minutes = pd.date_range("2026-01-01", periods=len(values), freq="min", tz="UTC")
        index = pd.MultiIndex.from_arrays(
            [[unit] * len(values), minutes], names=["device", "minute"]
        )
        parts.append(pd.DataFrame({"pressure": values}, index=index))
    return pd.concat(parts)


def test_latest_zscores_say_of_each_units_last_row_what_zscore_flags_says() -> None:
    steady = [10.0, 10.2, 9.8, 10.1, 9.9] * 4
    rng = np.random.default_rng(3)
    noisy = list(rng.normal(50, 2, 30))
    frame = _units(a=[99.0, *steady, 13.0], b=noisy, c=[*steady[:10], 12.0])
    z = latest_zscores(frame, window=20)
    # a: only the 20 minutes before the last count (the 99 is older than the window)
    assert z.loc["a", "pressure"] == pytest.approx((13.0 - 10.0) / pd.Series(steady).std())
    # b: the same figure as the one-unit rolling z-score on its last row
    expected = analysis.rolling_zscore(pd.Series(noisy), window=20).iloc[-1]
    assert z.loc["b", "pressure"] == pytest.approx(expected)
    # c: fewer than 20 earlier minutes: no z-score
    assert np.isnan(z.loc["c", "pressure"])
    # a shorter window sees c
    assert latest_zscores(frame, window=10).loc["c", "pressure"] == pytest.approx(
        (12.0 - np.mean(steady[:10])) / np.std(steady[:10], ddof=1)
    )


def test_latest_flags_name_detector_metric_and_how_far_per_unit() -> None:
    steady = [10.0, 10.2, 9.8, 10.1, 9.9] * 4
    frame = _units(a=[*steady, 13.0], b=[*steady, 10.05], c=[*steady, 10.1])
    limits = {"b": {"pressure": {"warn_high": 10.0}}, "c": {"pressure": {"warn_low": 9.0}}}
    flags = latest_flags(frame, limits, window=20, threshold=2.0)
    assert set(flags) == {"a", "b"}  # c: inside its limit and its window
    (a,) = flags["a"]
    assert (a.detector, a.metric, a.value) == ("zscore", "pressure", 13.0)
    assert a.row == frame.loc["a"].index[-1]
    (b,) = flags["b"]
    assert (b.detector, b.metric, b.value, b.score) == (
        "threshold",
        "pressure",
        10.05,
        pytest.approx(0.05),
    )
    # The threshold a type sets: 25 standard deviations lets a's jump (about 20.7) pass.
    assert "a" not in latest_flags(frame, limits, window=20, threshold=25.0)


def test_stuck_runs_count_repeats_from_the_given_length_on() -> None:
    values = [1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 0.0, 0.0, 0.0, np.nan, np.nan]
    assert stuck_runs(values, 2).tolist() == [0, 0, 2, 3, 0, 2, 0, 2, 3, 0, 0]
    assert stuck_runs(values, 3).tolist() == [0, 0, 0, 3, 0, 0, 0, 0, 3, 0, 0]
    # a saturated end (a flat battery's 0 %) is no stuck sensor
    assert stuck_runs(values, 3, ignore=(0.0,)).tolist() == [0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]


def test_stuck_flags_name_the_metric_and_the_run() -> None:
    frame = pd.DataFrame(
        {"flow": [5.1, 5.3, 5.3, 5.3, 5.3, 5.2], "battery": [0.0, 0.0, 0.0, 80.0, 79.9, 79.8]}
    )
    flags = stuck_flags(frame, readings=3, ignore={"battery": [0.0]})
    assert [(f.row, f.metric, f.detector, f.value, f.score) for f in flags] == [
        (3, "flow", "stuck", 5.3, 3),
        (4, "flow", "stuck", 5.3, 4),
    ]


def test_outside_and_quantile_bounds_by_hand() -> None:
    values = [1.0, 5.0, np.nan, 9.0, 3.0]
    assert outside(values, 2.0, 8.0).tolist() == [True, False, False, True, False]
    assert outside(values, high=8.0).tolist() == [False, False, False, True, False]
    assert not outside(values).any()
    # Sorted 1 3 5 9: the 25 % quantile by linear interpolation is 1 + 0.75 * (3 - 1) = 2.5.
    assert quantile_bounds(values, 0.25, 1.0) == (2.5, 9.0)
    assert quantile_bounds(values, None, 0.5) == (None, 4.0)
    assert quantile_bounds([np.nan], 0.1, 0.9) == (None, None)
    with pytest.raises(ValueError, match=r"quantile 1\.5"):
        quantile_bounds(values, 0.1, 1.5)


def test_value_flags_in_time_order_with_how_far() -> None:
    frame = pd.DataFrame({"pressure": [4.0, 12.0, 7.0, 1.0], "flow": [1.0, 2.0, 3.0, 4.0]})
    flags = value_flags(frame, {"pressure": {"low": 2.0, "high": 10.0}, "flow": {"high": 3.5}})
    assert [(f.row, f.metric, f.detector, f.value, f.score) for f in flags] == [
        (1, "pressure", "value", 12.0, 2.0),
        (3, "pressure", "value", 1.0, 1.0),
        (3, "flow", "value", 4.0, 0.5),
    ]


def test_quantile_flags_are_outside_the_readings_own_quantiles() -> None:
    values = np.r_[np.arange(100.0), 500.0, -400.0]
    frame = pd.DataFrame({"temperature": values})
    flags = quantile_flags(frame, q_low=0.01, q_high=0.99)
    low, high = np.quantile(values, 0.01), np.quantile(values, 0.99)
    assert [f.row for f in flags] == list(np.flatnonzero((values < low) | (values > high)))
    assert {f.row for f in flags} >= {100, 101}
    far = next(f for f in flags if f.row == 100)
    assert far.detector == "quantile" and far.score == pytest.approx(500.0 - high)
    assert [f.row for f in quantile_flags(frame, q_low=None, q_high=0.99)] == [
        f.row for f in flags if f.value > high
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "params"),
    [("value", {"low": 46.0, "high": 56.0}), ("quantile", {"q_low": 0.02, "q_high": 0.95})],
)
def test_the_detectors_agree_with_the_explorers_sql(device: Any, method: str, params: Any) -> None:
    rng = np.random.default_rng(3)
    values = 50 + rng.normal(0, 3, 500)
    times = [T0 + i * timedelta(seconds=1) for i in range(len(values))]
    write(
        [
            (t, device.tenant_id, device.id, "temperature", float(v))
            for t, v in zip(times, values, strict=True)
        ]
    )
    explored = analysis.anomalies(
        tenant_id=device.tenant_id,
        device_id=device.id,
        metric="temperature",
        start=times[0],
        end=times[-1] + timedelta(seconds=1),
        method=method,
        **params,
    )
    frame = pd.DataFrame({"temperature": values}, index=times)
    if method == "value":
        flags = value_flags(frame, {"temperature": {"low": 46.0, "high": 56.0}})
    else:
        flags = quantile_flags(frame, **params)
        assert quantile_bounds(values, params["q_low"], params["q_high"]) == pytest.approx(
            (explored.low, explored.high)
        )
    assert explored.count > 10
    assert [f.row for f in flags] == explored.times
    assert [f.value for f in flags] == pytest.approx(explored.values)


def test_latest_stuck_and_the_values_normal_operation_sticks_to() -> None:
    frame = _units(
        a=[10.1, 10.4, 10.4, 10.4],  # stuck for its last three
        b=[10.1, 10.4, 10.4, 10.5],
        c=[0.0, 0.0, 0.0, 0.0],  # a flat battery: 0 is where it rests
        d=[10.4, 10.4],  # too short to tell
    )
    assert {
        u: [(f.metric, f.value, f.score) for f in v] for u, v in latest_stuck(frame).items()
    } == {
        "a": [("pressure", 10.4, 3.0)],
        "c": [("pressure", 0.0, 3.0)],
    }
    assert set(latest_stuck(frame, ignore={"pressure": [0.0]})) == {"a"}
    # Consecutive minutes required with a step: e's last three rows have a silent minute
    # between them (minutes 0, 1, 3).
    gappy = pd.concat([frame, _units(e=[10.4, 10.4, 10.4, 10.4])])
    gappy = gappy.drop(index=[("e", gappy.loc["e"].index[2])])
    step = pd.Timedelta(minutes=1)
    assert set(latest_stuck(gappy, step=step)) == {"a", "c"}
    assert set(latest_stuck(gappy)) == {"a", "c", "e"}
    assert set(latest_stuck(frame, readings=2)) == {"a", "c", "d"}
    # The repeats of the previous row, within a unit (d's first 10.4 does not repeat c's last):
    # 10.4 twice in a, once in b, 0 three times in c and 10.4 once in d, of 14 rows.
    assert saturated_values(frame, share=0.1) == {"pressure": [0.0, 10.4]}
    assert saturated_values(frame, share=0.25) == {"pressure": [10.4]}  # 4 > 3.5, 3 is not
    assert saturated_values(frame, share=0.3) == {"pressure": []}


def test_spells_open_above_the_limit_and_end_below_the_clear_level() -> None:
    score = [0.5, 1.2, 0.9, 0.85, 0.7, 0.95, 1.1, np.nan, 0.3, 1.5, 0.9]
    units = ["a"] * 9 + ["b"] * 2
    assert spells(score, units).tolist() == [
        False, True, True, True, False, False, True, True, False, True, True,
    ]  # fmt: skip
    assert spells(score, units, open_level=2.0).tolist() == [False] * 11
    assert spells([], []).tolist() == []
