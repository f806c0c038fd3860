"""The device page's analysis API: exact statistics, histogram and KDE, and the anomaly
explorer's three methods, each checked against numpy / pandas on the same readings."""

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from devices.models import Device
from telemetry import analysis

from .known_readings import T0, write

STEP = timedelta(seconds=1)
N = 5000


def iso(when: Any) -> str:
    return when.isoformat().replace("+00:00", "Z")


@pytest.fixture
def values(device: Device, other_device: Device) -> np.ndarray:
    """A noisy signal with a few planted spikes and a level shift; a constant metric; and the
    other tenant's device with wild values that must never show up."""
    rng = np.random.default_rng(7)
    signal = 50 + rng.normal(0, 2, N)
    signal[3000:] += 6  # level shift
    for i in (500, 1500, 2500, 4200):
        signal[i] += 25  # spikes
    rows = [
        (T0 + i * STEP, device.tenant_id, device.id, "temperature", float(v))
        for i, v in enumerate(signal)
    ]
    rows += [(T0 + i * STEP, device.tenant_id, device.id, "speed", 1500.0) for i in range(100)]
    rows += [
        (T0 + i * STEP, other_device.tenant_id, other_device.id, "temperature", 1e6)
        for i in range(100)
    ]
    write(rows)
    return signal


def _range(**extra: Any) -> dict[str, Any]:
    return {"start": iso(T0), "end": iso(T0 + N * STEP), **extra}


@pytest.mark.django_db
class TestStatistics:
    def test_figures_are_exact_and_the_kde_carries_every_reading(
        self, api_as: Any, viewer: Any, device: Device, values: np.ndarray
    ) -> None:
        response = api_as(viewer).get(
            f"/api/v1/devices/{device.pk}/statistics", _range(metrics="temperature,speed,flow")
        )
        assert response.status_code == 200, response.content
        body = response.json()["metrics"]
        t = body["temperature"]
        assert t["count"] == N
        assert t["min"] == pytest.approx(values.min())
        assert t["max"] == pytest.approx(values.max())
        assert t["mean"] == pytest.approx(values.mean())
        assert t["std"] == pytest.approx(values.std(ddof=1))
        for q in (1, 5, 25, 50, 75, 95, 99):
            assert t["percentiles"][f"p{q}"] == pytest.approx(np.percentile(values, q))
        # The histogram counts every reading once, in the right bin.
        edges, counts = t["histogram"]["edges"], t["histogram"]["counts"]
        assert len(counts) == analysis.SHOWN_BINS and sum(counts) == N
        want, _ = np.histogram(values, bins=np.array(edges))
        assert np.abs(np.array(counts) - want).sum() <= 2  # float edges may move a boundary value
        # The KDE is in readings per bin: its integral over x, divided by the bin width, is N.
        x, y = np.array(t["kde"]["x"]), np.array(t["kde"]["y"])
        area = float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x))) / (edges[1] - edges[0])
        assert area == pytest.approx(N, rel=0.02)
        assert x[np.argmax(y)] == pytest.approx(np.median(values), abs=4)
        # A constant: one bar, no density; a metric without readings: a count of 0.
        assert body["speed"]["histogram"] == {"edges": [1500.0, 1500.0], "counts": [100]}
        assert body["speed"]["kde"] is None and body["speed"]["std"] == 0
        assert body["flow"] == {"count": 0}

    def test_default_metrics_and_foreign_device(
        self, api_as: Any, viewer: Any, device: Device, other_device: Device, values: np.ndarray
    ) -> None:
        body = api_as(viewer).get(f"/api/v1/devices/{device.pk}/statistics", _range()).json()
        assert set(body["metrics"]) == {"temperature", "speed"}
        assert body["metrics"]["temperature"]["max"] < 1000  # not the other tenant's 1e6
        foreign = api_as(viewer).get(f"/api/v1/devices/{other_device.pk}/statistics", _range())
        assert foreign.status_code == 404


@pytest.mark.django_db
def test_statistics_refuse_a_range_too_large_with_a_reason(
    api_as: Any, viewer: Any, device: Device, values: np.ndarray, monkeypatch: Any
) -> None:
    monkeypatch.setattr(analysis, "MAX_STATISTICS_READINGS", 4000)
    url = f"/api/v1/devices/{device.pk}/statistics"
    response = api_as(viewer).get(url, _range(metrics="temperature"))
    assert response.status_code == 400
    assert "5,000 readings" in response.json()["start"][0]
    assert api_as(viewer).get(url, _range(metrics="speed")).status_code == 200


@pytest.mark.django_db
class TestAnomalies:
    def get(self, client: Any, device: Device, **params: Any) -> Any:
        return client.get(f"/api/v1/devices/{device.pk}/anomalies", _range(**params))

    def test_value_bounds(
        self, api_as: Any, viewer: Any, device: Device, values: np.ndarray
    ) -> None:
        body = self.get(
            api_as(viewer), device, metric="temperature", method="value", high=65
        ).json()
        want = values[values > 65]
        assert body["count"] == len(want) and body["total"] == N
        assert body["points"]["v"] == pytest.approx(list(want))
        assert (body["low"], body["high"]) == (None, 65)
        both = self.get(
            api_as(viewer), device, metric="temperature", method="value", low=46, high=65
        )
        assert both.json()["count"] == int(((values < 46) | (values > 65)).sum())

    def test_quantile_bounds_are_the_ranges_quantiles(
        self, api_as: Any, viewer: Any, device: Device, values: np.ndarray
    ) -> None:
        body = self.get(
            api_as(viewer), device, metric="temperature", method="quantile", q_low=0.01, q_high=0.99
        ).json()
        low, high = np.quantile(values, 0.01), np.quantile(values, 0.99)
        assert body["low"] == pytest.approx(low) and body["high"] == pytest.approx(high)
        assert body["count"] == int(((values < low) | (values > high)).sum())

    def test_rolling_zscore_matches_pandas_and_finds_the_spikes(
        self, api_as: Any, viewer: Any, device: Device, values: np.ndarray
    ) -> None:
        body = self.get(
            api_as(viewer), device, metric="temperature", method="zscore", window=60, threshold=4
        ).json()
        s = pd.Series(values)
        previous = s.rolling(60).agg(["mean", "std"]).shift(1)
        z = (s - previous["mean"]) / previous["std"]
        want = z[z.abs() > 4]
        assert body["count"] == len(want)
        assert body["points"]["z"] == pytest.approx(list(want), rel=1e-6)
        indexes = list(want.index)
        for spike in (500, 1500, 2500, 4200):
            assert spike in indexes

    @pytest.mark.parametrize("method", ["value", "quantile", "zscore"])
    def test_an_empty_range_flags_nothing(
        self, api_as: Any, viewer: Any, device: Device, values: np.ndarray, method: str
    ) -> None:
        params = {"low": 1, "q_low": 0.1, "start": iso(T0 - timedelta(days=2))}
        params["end"] = iso(T0 - timedelta(days=1))
        response = api_as(viewer).get(
            f"/api/v1/devices/{device.pk}/anomalies",
            {"metric": "temperature", "method": method, **params},
        )
        assert response.status_code == 200, response.content
        assert (response.json()["total"], response.json()["count"]) == (0, 0)

    def test_a_large_range_is_refused_with_a_reason(
        self, api_as: Any, viewer: Any, device: Device, values: np.ndarray, monkeypatch: Any
    ) -> None:
        monkeypatch.setattr(analysis, "MAX_EXPLORE_READINGS", 1000)
        response = self.get(api_as(viewer), device, metric="temperature", method="value", high=60)
        assert response.status_code == 400
        assert "5,000 readings" in response.json()["start"][0]

    def test_flagged_points_are_capped_but_all_counted(
        self, api_as: Any, viewer: Any, device: Device, values: np.ndarray, monkeypatch: Any
    ) -> None:
        monkeypatch.setattr(analysis, "MAX_FLAGGED_POINTS", 10)
        body = self.get(api_as(viewer), device, metric="temperature", method="value", low=0).json()
        assert body["truncated"] is False and body["count"] == 0
        body = self.get(
            api_as(viewer), device, metric="temperature", method="value", high=50
        ).json()
        assert body["truncated"] is True and len(body["points"]["t"]) == 10
        assert body["count"] == int((values > 50).sum())

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"method": "value"}, "low"),
            ({"method": "value", "low": 5, "high": 1}, "low"),
            ({"method": "quantile"}, "q_low"),
            ({"method": "quantile", "q_low": 0.9, "q_high": 0.1}, "q_low"),
            ({"method": "quantile", "q_high": 1.5}, "q_high"),
            ({"method": "zscore", "window": 1}, "window"),
            ({"method": "zscore", "threshold": 0}, "threshold"),
            ({"method": "magic"}, "method"),
            ({"method": "value", "low": "abc"}, "low"),
        ],
    )
    def test_bad_parameters_are_400_naming_them(
        self, api_as: Any, viewer: Any, device: Device, params: dict[str, Any], field: str
    ) -> None:
        response = self.get(api_as(viewer), device, metric="temperature", **params)
        assert response.status_code == 400
        assert field in response.json()

    def test_foreign_device_is_404(self, api_as: Any, viewer: Any, other_device: Device) -> None:
        response = self.get(
            api_as(viewer), other_device, metric="temperature", method="value", low=1
        )
        assert response.status_code == 404
