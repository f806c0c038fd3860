"""The health score, behaviour clusters and forecasts against hand-computed cases."""

from typing import Any

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from analytics.ml import clusters, forecast, health

LIMITS = {
    "temperature": {"warn_high": 75.0},
    "vibration": {"warn_high": 1.5},
    "battery": {"warn_low": 30.0},
}


def test_health_rules_by_hand() -> None:
    latest = pd.DataFrame(
        {
            "temperature": [80.0, 60.0, 90.0, np.nan],
            "vibration": [1.0, 2.0, 3.0, 1.0],
            "battery": [20.0, 90.0, 10.0, 50.0],
        },
        index=[1, 2, 3, 4],
    )
    limits: dict[object, Any] = {1: LIMITS, 2: LIMITS, 3: LIMITS, 4: {}}  # 4 defines none
    drop = pd.Series({1: 12.0, 2: 5.0, 3: 30.0})
    rules = health.health_rules(latest, limits, battery_drop=drop)
    # 1: overheating and low battery and a 12-point drop: 100 - 30 - 20 - 10
    # 2: high vibration only; 3: everything: 100 - 30 - 20 - 20 - 10; 4: nothing to judge
    assert rules.to_dict() == {1: 40.0, 2: 80.0, 3: 20.0, 4: 100.0}


def test_the_anomaly_penalty_by_hand() -> None:
    rules = pd.Series({1: 100.0, 2: 100.0, 3: 80.0, 4: 50.0, 5: 100.0})
    score = pd.Series({1: 0.4, 2: 1.0, 3: 3.0, 4: 10.0, 5: np.nan})
    combined = health.health_score(rules, score)
    # penalty = 0.5 * clip((s - 0.5) / 2.5, 0, 1): 0, 0.1, 0.5, 0.5, none
    assert combined.to_dict() == {1: 100.0, 2: 90.0, 3: 40.0, 4: 25.0, 5: 100.0}


def test_window_stats_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "unit": ["a"] * 7,
            "time": pd.date_range("2026-01-01", periods=7, freq="min", tz="UTC"),
            "x": [1.0, 2.0, 3.0, 5.0, 5.0, 5.0, 9.0],
        }
    )
    stats = clusters.window_stats(frame, unit="unit", time="time", signals=["x"], rows=3)
    assert len(stats) == 2  # the seventh reading starts a window that never fills
    first, second = stats.iloc[0], stats.iloc[1]
    assert (first["x_mean"], first["x_slope"]) == (2.0, 1.0)
    assert first["x_std"] == pytest.approx(np.std([1, 2, 3]))
    assert (second["x_mean"], second["x_std"], second["x_slope"]) == (5.0, 0.0, 0.0)
    assert stats.index[1] == ("a", frame["time"][3])


def test_windows_beyond_the_fitted_sample_take_their_nearest_core_windows_label(
    monkeypatch,
) -> None:
    rng = np.random.default_rng(1)
    centres = [(0, 0, 0), (10, 0, 0), (0, 10, 0)]
    points = np.vstack([rng.normal(c, 0.3, size=(200, 3)) for c in centres] + [[[40, 40, 40]]])
    stats = pd.DataFrame(points, columns=["a_mean", "b_mean", "c_mean"])
    whole = clusters.behaviour_clusters(stats)
    monkeypatch.setattr(clusters, "FIT_WINDOWS", 150)  # a quarter fitted, the rest assigned
    sampled = clusters.behaviour_clusters(stats)
    assert sorted(k for k in sampled.counts if k != -1) == [0, 1, 2]
    assert sampled.labels[-1] == -1  # the far one is noise, fitted or not
    for blob in range(3):
        own = sampled.labels[blob * 200 : (blob + 1) * 200]
        assert np.mean(own == np.bincount(own[own >= 0]).argmax()) > 0.95
    # the same partition as fitting every window, up to the labels' names
    same = pd.crosstab(whole.labels, sampled.labels).to_numpy()
    assert (same.max(axis=1).sum() / len(points)) > 0.95


def test_the_knee_of_a_constructed_curve() -> None:
    curve = np.r_[np.linspace(0.0, 1.0, 90), np.linspace(2.0, 20.0, 10)]
    assert clusters.knee(curve) == pytest.approx(1.0)


def test_three_blobs_and_a_far_outlier() -> None:
    rng = np.random.default_rng(0)
    centres = [(0, 0, 0), (10, 0, 0), (0, 10, 0)]
    points = np.vstack([rng.normal(c, 0.3, size=(60, 3)) for c in centres] + [[[40, 40, 40]]])
    stats = pd.DataFrame(points, columns=["a_mean", "b_mean", "c_mean"])
    flags = np.zeros(len(points), dtype=bool)
    flags[-1] = True
    flags[:5] = True
    result = clusters.behaviour_clusters(stats, flags=flags)
    assert sorted(k for k in result.counts if k != -1) == [0, 1, 2]
    assert result.labels[-1] == -1  # the far one is noise
    for blob in range(3):
        assert len(set(result.labels[blob * 60 : (blob + 1) * 60]) - {-1}) == 1
    assert result.coords.shape == (len(points), 3)
    assert result.anomalies[-1] == 1 and result.anomalies[int(result.labels[0])] == 5
    assert sum(result.explained) == pytest.approx(1.0)


def test_too_few_windows_are_one_cluster_not_an_error() -> None:
    result = clusters.behaviour_clusters(pd.DataFrame({"a_mean": [1.0, 2.0]}))
    assert result.labels.tolist() == [0, 0] and result.counts == {0: 2}


def test_a_linear_series_is_forecast_on_its_line() -> None:
    line = 50.0 + 0.5 * np.arange(200, dtype=np.float64)
    fc = forecast.forecast(line[None, :], horizon=10)
    # The damped trend follows the line, a little short of it (it damps on purpose), and
    # keeps rising over the horizon.
    expected = 50.0 + 0.5 * np.arange(200, 210)
    assert np.all(np.abs(fc.mean[0] - expected) < 1.0)
    assert np.all(np.diff(fc.mean[0]) > 0.3)


def test_the_forecast_matches_statsmodels_damped_holt() -> None:
    rng = np.random.default_rng(4)
    series = 20 + np.cumsum(rng.normal(0.05, 0.3, 300))
    alpha, beta, phi = 0.3, 0.05, 0.98
    state, _, _ = forecast._smooth(series[None, :], alpha, beta, phi)
    ours = state[0] + np.cumsum(phi ** np.arange(1, 11)) * state[1]
    # statsmodels' initial level is the state before its first observation: give it the
    # series from the second reading on, with ours as the state after the first.
    fit = ExponentialSmoothing(
        series[1:],
        trend="add",
        damped_trend=True,
        initialization_method="known",
        initial_level=series[0],
        initial_trend=float((np.mean(series[1:6]) - series[0]) / 3.0),
    ).fit(smoothing_level=alpha, smoothing_trend=beta, damping_trend=phi, optimized=False)
    assert np.allclose(ours, fit.forecast(10), rtol=1e-9, atol=1e-9)


def test_intervals_cover_about_their_level() -> None:
    rng = np.random.default_rng(1)
    n, length, horizon = 400, 240, 30
    noise = rng.normal(0, 1.0, size=(n, length + horizon))
    level = 10 + np.cumsum(rng.normal(0, 0.2, size=(n, length + horizon)), axis=1)
    data = level + noise
    fc = forecast.forecast(data[:, :length], horizon=horizon, level=0.8)
    future = data[:, length:]
    inside = np.mean((fc.low <= future) & (future <= fc.high))
    assert 0.7 <= inside <= 0.92


def test_crossings_by_hand() -> None:
    fc = forecast.Forecast(
        mean=np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]]),
        low=np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0]]),
        high=np.array([[2.0, 3.0, 4.0, 5.0], [1.5, 1.5, 2.5, 2.5]]),
    )
    steps, earliest = forecast.crossing(fc, limit=2.4, above=True)
    assert steps[0] == 3 and np.isnan(steps[1])
    assert earliest.tolist() == [2.0, 3.0]
    below, worst = forecast.crossing(fc, limit=0.5, above=False)
    assert np.isnan(below).all() and worst.tolist() == [1.0, 1.0]


def test_fleet_crossings_name_the_soonest_limit_per_device() -> None:
    from datetime import UTC, datetime

    from analytics import forecasting

    minute = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    times = pd.date_range(end=minute, periods=180, freq="min")
    ramp = np.linspace(60.0, 70.0, 180)  # 10 °C in 3 h: 75 °C in about another 1.5 h
    series = {
        1: {"temperature": ramp, "battery": np.full(180, 90.0)},
        2: {"temperature": np.full(180, 60.0), "battery": np.linspace(50.0, 30.0, 180)},
        3: {"temperature": np.full(180, 80.0), "battery": np.full(180, 90.0)},  # past it already
        4: {"temperature": np.full(180, 60.0), "battery": np.full(180, 90.0)},
    }
    frame = pd.concat(
        pd.DataFrame(
            values,
            index=pd.MultiIndex.from_product([[device], times], names=["device", "minute"]),
        )
        for device, values in series.items()
    )
    limits = {
        d: {"temperature": {"warn_high": 75.0}, "battery": {"warn_low": 20.0}} for d in series
    }
    found = forecasting.crossings(frame, limits, minute=minute, history_minutes=180, hours=3.0)
    assert set(found) == {1, 2}
    assert (found[1]["metric"], found[1]["direction"], found[1]["limit"]) == (
        "temperature",
        "above",
        75.0,
    )
    assert 1.2 <= found[1]["hours"] <= 2.5  # the damped trend comes a little later than 1.5 h
    assert found[1]["earliest_hours"] <= found[1]["hours"]
    assert (found[2]["metric"], found[2]["direction"]) == ("battery", "below")
    assert 1.2 <= found[2]["hours"] <= 2.5
    # Too little history: nothing forecast.
    assert (
        forecasting.crossings(
            frame.groupby(level="device").tail(10),
            limits,
            minute=minute,
            history_minutes=180,
            hours=3.0,
        )
        == {}
    )
