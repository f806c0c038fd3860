"""The Analytics page's API: anomaly spells counted per hour and day of the tenant's clock, per
device and detector; the anomaly and cluster CSV files holding exactly the rows of the range;
clusters limited to a range with their windows in spells marked. Another tenant's rows are never
counted or listed; its device is a 404, its type a 400."""

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync

from analytics import insights, training
from analytics.models import AnomalyEvent
from tests.telemetry.known_readings import write

from . import plant

BERLIN = ZoneInfo("Europe/Berlin")


def _spell(device: Any, start: datetime, end: datetime | None, detector: str = "residual") -> Any:
    return AnomalyEvent.objects.create(
        tenant=device.tenant,
        device=device,
        detector=detector,
        started_at=start,
        last_at=end or start,
        ended_at=end,
        minutes=max(1, int(((end or start) - start).total_seconds() // 60)),
        peak_score=3.5,
        drivers=[{"metric": "temperature", "share": 0.75, "value": 80.0}],
    )


def _rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, getattr(response, "content", b"")[:300]
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return list(csv.reader(io.StringIO(async_to_sync(collect)().decode())))


@pytest.fixture
def berlin(tenant: Any) -> Any:
    tenant.timezone = "Europe/Berlin"
    tenant.save(update_fields=["timezone"])
    return tenant


def test_the_anomaly_csv_holds_exactly_the_spells_overlapping_the_range(
    api_as, viewer, other_admin, berlin, other_tenant
) -> None:
    ours = plant.pumps(berlin, 2)
    theirs = plant.pumps(other_tenant, 1)
    start = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    end = start + timedelta(days=1)
    h = timedelta(hours=1)
    _spell(ours[0], start - 3 * h, start - 2 * h)  # over before the range
    across = _spell(ours[0], start - h, start + h)  # begun before, still on at its start
    inside = _spell(ours[1], start + 5 * h, start + 6 * h, detector="stuck")
    still_open = _spell(ours[0], end - h, None)
    _spell(ours[1], end, end + h)  # begins at its end: not in it
    their_spell = _spell(theirs[0], start + 2 * h, start + 3 * h)  # another tenant's
    params = {"start": start.isoformat(), "end": end.isoformat()}
    rows = _rows(api_as(viewer).get("/api/v1/analytics/anomalies.csv", params))
    assert rows[0] == insights.ANOMALIES_HEADER
    assert [int(r[0]) for r in rows[1:]] == [across.pk, inside.pk, still_open.pk]
    # on the tenant's clock (Berlin is an hour ahead of UTC in November)
    assert rows[1][1:] == [
        "Pump 1", "residual", "2026-11-02T00:00:00+01:00", "2026-11-02T02:00:00+01:00", "120",
        "3.5", "temperature 75%",
    ]  # fmt: skip
    assert rows[3][4] == ""  # still open
    utc = _rows(api_as(viewer).get("/api/v1/analytics/anomalies.csv", {**params, "tz": "UTC"}))
    assert utc[1][3] == "2026-11-01T23:00:00+00:00"
    # one device; then the other tenant's device is a 404 and its spells never listed
    one = _rows(
        api_as(viewer).get("/api/v1/analytics/anomalies.csv", {**params, "device": ours[1].pk})
    )
    assert [int(r[0]) for r in one[1:]] == [inside.pk]
    refused = api_as(viewer).get(
        "/api/v1/analytics/anomalies.csv", {**params, "device": theirs[0].pk}
    )
    assert refused.status_code == 404
    mine = _rows(api_as(other_admin).get("/api/v1/analytics/anomalies.csv", params))
    assert [int(r[0]) for r in mine[1:]] == [their_spell.pk]
    bad = api_as(viewer).get("/api/v1/analytics/anomalies.csv", {**params, "tz": "Mars/Base"})
    assert bad.status_code == 400 and "tz" in bad.json()
    kettle = api_as(viewer).get("/api/v1/analytics/anomalies.csv", {**params, "type": "kettle"})
    assert kettle.status_code == 400 and "type" in kettle.json()


def test_the_anomaly_csv_is_read_page_by_page_without_losing_or_repeating_a_spell(
    api_as, viewer, tenant, monkeypatch
) -> None:
    monkeypatch.setattr(insights, "CHUNK", 3)
    device = plant.pumps(tenant, 1)[0]
    start = datetime(2026, 11, 2, tzinfo=UTC)
    # seven spells, three pairs sharing their start: the pages' boundaries fall inside a pair
    made = [
        _spell(device, start + timedelta(minutes=10 * (i // 2)), start + timedelta(hours=8))
        for i in range(7)
    ]
    rows = _rows(
        api_as(viewer).get(
            "/api/v1/analytics/anomalies.csv",
            {"start": start.isoformat(), "end": (start + timedelta(hours=9)).isoformat()},
        )
    )
    assert [int(r[0]) for r in rows[1:]] == [e.pk for e in made]


def test_spells_are_counted_per_day_and_hour_of_the_tenants_clock(
    api_as, viewer, other_admin, berlin, other_tenant
) -> None:
    ours = plant.pumps(berlin, 3)
    theirs = plant.pumps(other_tenant, 1)
    # 24 to 27 October 2026 in Berlin: the 25th has 25 hours (summer time ends)
    start = datetime(2026, 10, 24, tzinfo=BERLIN)
    end = datetime(2026, 10, 27, tzinfo=BERLIN)
    local = lambda day, hour: datetime(2026, 10, day, hour, 30, tzinfo=BERLIN)  # noqa: E731
    _spell(ours[0], start - timedelta(hours=2), start + timedelta(hours=1))  # begun before
    _spell(ours[0], local(24, 23), local(25, 1))  # 23:30 on the 24th, Berlin
    _spell(ours[1], local(25, 0), None, detector="stuck")
    _spell(ours[1], local(25, 23), local(25, 23) + timedelta(minutes=5))
    _spell(ours[2], local(26, 12), local(26, 13))
    _spell(theirs[0], local(25, 12), local(25, 13))
    params = {"start": start.isoformat(), "end": end.isoformat()}
    days = api_as(viewer).get("/api/v1/analytics/anomalies/stats", params).json()
    assert days["tz"] == "Europe/Berlin" and days["bucket"] == "day"
    assert [(s["start"], s["count"]) for s in days["series"]] == [
        ("2026-10-23T22:00:00Z", 1),
        ("2026-10-24T22:00:00Z", 2),
        ("2026-10-25T23:00:00Z", 1),
    ]
    assert days["begun"] == 4 and days["total"] == 5
    assert days["devices"] == [
        {"device": ours[0].pk, "name": "Pump 1", "count": 2},
        {"device": ours[1].pk, "name": "Pump 2", "count": 2},
        {"device": ours[2].pk, "name": "Pump 3", "count": 1},
    ]
    assert days["detectors"] == {"residual": 4, "stuck": 1}
    hours = api_as(viewer).get("/api/v1/analytics/anomalies/stats", {**params, "bucket": "hour"})
    series = hours.json()["series"]
    assert len(series) == 24 + 25 + 24
    counted = {s["start"]: s["count"] for s in series if s["count"]}
    assert counted == {
        "2026-10-24T21:00:00Z": 1,  # 23:30 summer time
        "2026-10-24T22:00:00Z": 1,  # 00:30
        "2026-10-25T22:00:00Z": 1,  # 23:30 winter time
        "2026-10-26T11:00:00Z": 1,
    }
    # the other tenant sees only its own
    other = api_as(other_admin).get("/api/v1/analytics/anomalies/stats", params).json()
    assert other["total"] == 1 and other["devices"][0]["device"] == theirs[0].pk
    # one type only; a type of no tenant's a 400
    typed = api_as(viewer).get("/api/v1/analytics/anomalies/stats", {**params, "type": "pump"})
    assert typed.json()["total"] == 5
    assert (
        api_as(viewer)
        .get("/api/v1/analytics/anomalies/stats", {**params, "type": "kettle"})
        .status_code
        == 400
    )
    too_long = api_as(viewer).get(
        "/api/v1/analytics/anomalies/stats",
        {"start": "2026-01-01T00:00:00Z", "end": "2026-12-01T00:00:00Z", "bucket": "hour"},
    )
    assert too_long.status_code == 400 and "bucket" in too_long.json()
    assert (
        api_as(viewer)
        .get("/api/v1/analytics/anomalies/stats", {**params, "bucket": "week"})
        .status_code
        == 400
    )


@pytest.fixture
def clustered(tenant: Any) -> list[Any]:
    """Three pumps, twelve hours of normal operation, a spell over the first one's last hour,
    and the active clusters of the pumps."""
    devices = plant.pumps(tenant, 3)
    write(plant.normal(devices, start=plant.END - timedelta(hours=12), minutes=12 * 60))
    _spell(devices[0], plant.END - timedelta(minutes=60), plant.END - timedelta(minutes=1))
    outcome = training.cluster_train(tenant=tenant, device_type=devices[0].type, end=plant.END)
    assert outcome.activated
    return devices


def test_clusters_of_a_range_with_the_windows_in_spells_marked(
    api_as, viewer, other_admin, other_tenant, clustered
) -> None:
    whole = api_as(viewer).get("/api/v1/analytics/clusters", {"type": "pump"}).json()
    assert whole["windows"] == 3 * 24 == len(whole["points"]["x"])
    assert sum(whole["points"]["anomalous"]) == 2
    last6 = {
        "type": "pump",
        "start": (plant.END - timedelta(hours=6)).isoformat(),
        "end": plant.END.isoformat(),
    }
    body = api_as(viewer).get("/api/v1/analytics/clusters", last6).json()
    assert body["windows"] == 3 * 12 == len(body["points"]["start"])
    assert sum(c["windows"] for c in body["clusters"].values()) == 36
    assert sum(c["anomalies"] for c in body["clusters"].values()) == 2
    assert all(c["minutes"] == 30 * c["windows"] for c in body["clusters"].values())
    starts = [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in body["points"]["start"]]
    assert min(starts) >= plant.END - timedelta(hours=6)
    marked = [
        (d, s)
        for d, s, a in zip(
            body["points"]["device"], starts, body["points"]["anomalous"], strict=True
        )
        if a
    ]
    assert sorted(marked) == [
        (clustered[0].pk, plant.END - timedelta(minutes=60)),
        (clustered[0].pk, plant.END - timedelta(minutes=30)),
    ]
    # the CSV: every window of the range, the same two marked, on the tenant's clock
    rows = _rows(api_as(viewer).get("/api/v1/analytics/clusters.csv", last6))
    assert rows[0] == insights.CLUSTERS_HEADER
    assert len(rows) == 1 + 36
    assert sum(int(r[-1]) for r in rows[1:]) == 2
    assert {int(r[0]) for r in rows[1:]} == {d.pk for d in clustered}
    first = datetime.fromisoformat(rows[1][2])
    assert datetime.fromisoformat(rows[1][3]) - first == timedelta(minutes=30)
    # another tenant has no clusters of its own and never sees ours
    plant.pump_type(other_tenant)
    assert api_as(other_admin).get("/api/v1/analytics/clusters", last6).status_code == 404
    assert api_as(other_admin).get("/api/v1/analytics/clusters.csv", last6).status_code == 404
    backwards = {**last6, "start": last6["end"], "end": last6["start"]}
    assert api_as(viewer).get("/api/v1/analytics/clusters", backwards).status_code == 400


def test_a_large_range_plots_every_outlier_and_anomalous_window_and_a_sample_of_the_rest(
    tenant, clustered
) -> None:
    windows = insights.ClusterWindows(tenant=tenant, device_type=clustered[0].type)
    body = windows.body(limit=10)
    assert windows.body()["windows"] == body["windows"] == 72
    points = body["points"]
    assert len(points["x"]) == 10
    must = int(((windows.labels == -1) | windows.flags).sum())
    assert must < 10
    pairs = zip(points["cluster"], points["anomalous"], strict=True)
    kept = sum(1 for c, a in pairs if c == -1 or a)
    assert kept == must
    # the counts are of every window, not of those plotted
    assert sum(c["windows"] for c in body["clusters"].values()) == 72
