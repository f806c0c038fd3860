"""Health indicators: a metric's departure from the device's own start, load taken out, a life
at a time."""

import numpy as np
import pandas as pd
import pytest

from analytics.ml import wear


def _device(n: int, wear_per_reading: float, seed: int = 0) -> pd.DataFrame:
    """A load moving current and temperature together; wear adds to the temperature alone."""
    rng = np.random.default_rng(seed)
    load = rng.uniform(0.2, 1.0, n)
    return pd.DataFrame(
        {
            "current": 6 + 24 * load,
            "temperature": 20 + 30 * load + wear_per_reading * np.arange(n),
        }
    )


def test_lives_start_at_a_new_unit_and_after_a_long_silence() -> None:
    times = pd.to_datetime(
        ["2026-01-01 00:00", "2026-01-01 00:01", "2026-01-01 09:00", "2026-01-01 09:01"], utc=True
    )
    same = ["a", "a", "a", "a"]
    assert wear.lives(same, times).tolist() == [0, 0, 1, 1]
    assert wear.lives(["a", "b", "b", "b"], times).tolist() == [0, 1, 2, 2]  # b: its repair too
    # a short outage (half an hour) is no repair
    short = pd.to_datetime(
        ["2026-01-01 00:00", "2026-01-01 00:01", "2026-01-01 00:31", "2026-01-01 00:32"], utc=True
    )
    assert wear.lives(same, short).tolist() == [0, 0, 0, 0]


def test_the_indicator_is_the_wear_alone_from_the_life_s_start() -> None:
    n = 200
    frame = _device(n, 0.05)
    times = pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC")
    new = np.arange(n) < 100
    # fitted on a new device (no wear): temperature = 20 + 30 (current - 6) / 24
    coefficients = wear.new_fit(_device(n, 0.0).to_numpy(), times, new)
    assert np.allclose(coefficients[1][0], 30 / 24)
    out = wear.health_indicators(frame, ["d"] * n, times, coefficients, windows=(1, 5), baseline=10)
    # the baseline: the median of the first ten residuals (0.05 x 0..9: 0.225), so far before
    residual = 0.05 * np.arange(n)
    assert np.allclose(out["temperature_hi1"].iloc[20:], residual[20:] - 0.225)
    assert np.allclose(out["temperature_hi1"].iloc[3], residual[3] - np.median(residual[:4]))
    assert np.allclose(out["temperature_hi5"].iloc[50], residual[48] - 0.225)  # median of 5
    assert np.allclose(out["temperature_dhi"].iloc[50], 0.05 * 10)  # over `baseline` readings
    assert np.isnan(out["temperature_dhi"].iloc[5])
    assert out["age_h"].iloc[60] == 1.0
    # current: temperature's wear leaks into its fit, the other way round (a small share)
    assert abs(out["current_hi1"].iloc[-1]) < abs(out["temperature_hi1"].iloc[-1])


def test_wear_that_takes_a_share_off_a_metric_reads_the_same_at_any_load_as_a_gain() -> None:
    n = 400
    rng = np.random.default_rng(3)
    load = rng.uniform(0.2, 1.0, n)
    leak = np.where(np.arange(n) < 100, 0.0, 0.2)  # a fifth of the flow lost from reading 100
    times = pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC")
    new = np.arange(n) < 100
    frame = pd.DataFrame({"current": 6 + 24 * load, "flow": 110 * load * (1 - leak)})
    coefficients = wear.new_fit(frame.to_numpy(), times, new)
    levels = wear.new_levels(frame.to_numpy(), new)
    assert levels == pytest.approx([np.median(6 + 24 * load[:100]), np.median(110 * load[:100])])
    out = wear.health_indicators(
        frame, ["d"] * n, times, coefficients, windows=(1,), baseline=10, levels=levels
    )
    late = np.arange(n) >= 100
    # the flow's residual: 110 x load x 0.2 lost, as much as the load at that minute
    assert out["flow_hi1"][late].to_numpy() == pytest.approx(-22 * load[late])
    assert np.ptp(out["flow_hi1"][late]) > 10
    # as a share of the flow expected: a fifth, whatever the load
    assert out["flow%_hi1"][late].to_numpy() == pytest.approx(np.full(late.sum(), -0.2))
    new_rows = out["current%_hi1"][~late].to_numpy()  # (later the leak leaks into its fit)
    assert new_rows == pytest.approx(np.zeros(100), abs=1e-9)
    # the baseline holds both, the gains after the metrics; given, it is the zero used
    base = wear.life_baseline(frame.to_numpy(), times, coefficients, baseline=10, levels=levels)
    assert wear.indicator_names(["current", "flow"], levels) == [
        "current",
        "flow",
        "current%",
        "flow%",
    ]
    assert base == pytest.approx([0, 0, 0, 0], abs=1e-9)
    given = wear.health_indicators(
        frame.iloc[200:],
        ["d"] * (n - 200),
        times[200:],
        coefficients,
        windows=(1,),
        levels=levels,
        base=np.tile(base, (n - 200, 1)),
    )
    assert given["flow%_hi1"].to_numpy() == pytest.approx(np.full(n - 200, -0.2))


def test_no_gain_is_read_where_the_expected_value_is_near_zero() -> None:
    values = np.array([[50.0, 10.0], [50.0, 0.5], [50.0, -3.0]])
    residuals = np.array([[0.0, 1.0], [0.0, 0.2], [0.0, 1.0]])
    gains = wear.gain_residuals(values, residuals, levels=[50.0, 20.0])
    # expected: 9, 0.3 (under a tenth of the level 20) and -4 (below zero)
    assert gains[:, 0] == pytest.approx([0, 0, 0])
    assert gains[0, 1] == pytest.approx(1 / 9)
    assert np.isnan(gains[1:, 1]).all()
