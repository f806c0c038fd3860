from typing import Any

import numpy as np
import pandas as pd
import pytest

from analytics.ml.residuals import (
    ResidualFit,
    residual_fit,
    residual_flags,
    residual_latest,
    residual_scores,
)


def _machine(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Three metrics driven by one load (with steps, as at shift changes), a little noise each."""
    rng = np.random.default_rng(seed)
    load = np.repeat(rng.uniform(0.2, 1.0, n // 50), 50) + rng.normal(0, 0.01, n)
    times = pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC")
    return pd.DataFrame(
        {
            "current": 6 + 24 * load + rng.normal(0, 0.1, n),
            "flow": 110 * load + rng.normal(0, 0.5, n),
            "temperature": 20 + 30 * load + rng.normal(0, 0.1, n),
        },
        index=times,
    )


def test_residual_flags_the_fault_on_one_metric_not_the_load_moving_them_all() -> None:
    frame = _machine()
    frame.iloc[400, 2] += 3.0  # temperature: 30 of its noise's sizes, a tenth of the load's span
    flags = residual_flags(frame, threshold=6.0, window=200, block=10)
    assert [(f.row, f.metric, f.detector) for f in flags] == [
        (frame.index[400], "temperature", "residual")
    ]
    assert flags[0].score > 6.0 and flags[0].value == frame.iloc[400, 2]
    # the load's steps (every 50 readings) move all three: nothing flagged without the fault
    assert residual_flags(_machine(), threshold=6.0, window=200, block=10) == []


def test_residual_scores_start_afresh_after_a_long_silence() -> None:
    frame = _machine()
    times = frame.index.tz_convert(None).to_numpy().copy()
    times[300:] = times[300:] + np.timedelta64(8, "h")  # a repair: eight hours down
    z = residual_scores(frame.to_numpy(), times, window=200, block=10, min_rows=60)
    assert np.isnan(z[:60]).all() and np.isfinite(z[60:300]).all()
    assert np.isnan(z[300:360]).all() and np.isfinite(z[360:]).all()


def _faulty(n: int = 900) -> pd.DataFrame:
    frame = _machine(n)
    frame.iloc[500:520, 1] -= 15.0  # a flow fault: the first pass leaves it out of later fits
    frame.iloc[700, 0] += 4.0
    return frame


@pytest.mark.parametrize("cut", [600, 720, 850])
def test_the_kept_fit_scores_the_next_readings_as_the_whole_history_does(cut: int) -> None:
    """What the apply cycle keeps per device (``residual_fit`` on the readings up to a block's
    start) and scores each new minute with (``residual_latest``) gives the very z that
    ``residual_scores`` gives those readings over the whole history."""
    frame = _faulty()
    values, times = frame.to_numpy(), frame.index
    centre, scale = values.mean(axis=0), values.std(axis=0)
    options: dict[str, Any] = {"window": 200, "block": 10, "min_rows": 60}
    whole = residual_scores(values, times, centre=centre, scale=scale, **options)
    fit = residual_fit(values[:cut], times[:cut], centre=centre, scale=scale, **options)
    assert fit is not None and fit.rows <= 200
    upto = cut + 10
    z = residual_latest(
        values[cut:upto], times[cut:upto], [fit] * (upto - cut), centre=centre, scale=scale
    )
    np.testing.assert_allclose(z, whole[cut:upto], rtol=1e-9, atol=1e-9)
    # the flow fault's readings (20 of the last 200) mostly have no weight in the fit of the
    # block after them (a first-pass fit that has taken in the step's start may pass its end)
    after = residual_fit(values[:520], times[:520], centre=centre, scale=scale, **options)
    clean = residual_fit(values[:500], times[:500], centre=centre, scale=scale, **options)
    assert after is not None and clean is not None
    assert clean.rows == 200 and after.rows <= 190


def test_a_kept_fit_survives_json_and_says_nothing_without_enough_rows() -> None:
    frame = _machine(300)
    values, times = frame.to_numpy(), frame.index
    centre, scale = values.mean(axis=0), values.std(axis=0)
    fit = residual_fit(values, times, centre=centre, scale=scale, window=200, min_rows=60)
    assert fit is not None
    again = ResidualFit.from_json(fit.as_json())
    np.testing.assert_array_equal(again.coefficients, fit.coefficients)
    np.testing.assert_array_equal(again.sd, fit.sd)
    short = residual_fit(values[:30], times[:30], centre=centre, scale=scale, min_rows=60)
    assert short is not None and np.isnan(short.sd).all()
    assert short.as_json()["sd"] == [None, None, None]
    z = residual_latest(values[30:31], times[30:31], [short], centre=centre, scale=scale)
    assert np.isnan(z).all()
    assert residual_fit(values[:0], times[:0], centre=centre, scale=scale) is None
    # a flow fault scores furthest out on flow (the others, fitted on flow among their
    # regressors, move too, less); the reading as it was scores nothing
    row = values[299:300].copy()
    row[0, 1] -= 20.0
    z = residual_latest(row, times[299:300], [fit], centre=centre, scale=scale)
    assert int(np.abs(z[0]).argmax()) == 1 and abs(z[0, 1]) > 30
    z = residual_latest(values[299:300], times[299:300], [fit], centre=centre, scale=scale)
    assert np.abs(z).max() < 4
