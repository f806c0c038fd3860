"""Health indicators: a metric's departure from the device's own start, load taken out, a life
at a time."""

import numpy as np
import pandas as pd

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
