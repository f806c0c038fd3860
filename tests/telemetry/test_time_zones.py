"""Days are the tenant's days: day and week buckets of the series, the fleet aggregates and the
bucketed export start at local midnight of ``tz`` (default: the tenant's zone), so the day a
daylight-saving change falls on is 23 or 25 hours long, and a zone half an hour off UTC is
answered exactly from the minute rollups. Real database."""

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devices.models import Device
from iotplatform.tenancy.models import Tenant

from ..factories import streamed
from . import known_readings

BERLIN = ZoneInfo("Europe/Berlin")
# Friday 27 March 2026, 00:00 in Berlin; summer time began on Sunday the 29th at 02:00.
START = datetime(2026, 3, 27, tzinfo=BERLIN)
HOURS = 24 * 5


def _hourly(tenant: Tenant, device: Device, *, step: timedelta = timedelta(hours=1)) -> None:
    first = START.astimezone(UTC)
    known_readings.write(
        [(first + i * step, tenant.id, device.id, "temperature", float(i)) for i in range(HOURS)]
    )


def _zone(tenant: Tenant, name: str) -> None:
    tenant.timezone = name
    tenant.save()


def _series(client: Any, device: Device, **params: Any) -> dict[str, Any]:
    got = client.get(
        f"/api/v1/devices/{device.pk}/series",
        {"start": START.isoformat(), "end": (START + timedelta(days=5)).isoformat(),
         "metrics": "temperature", **params},
    )  # fmt: skip
    assert got.status_code == 200, got.json()
    return dict(got.json())


@pytest.mark.django_db
def test_day_buckets_are_the_tenants_days_across_a_dst_change(
    tenant: Tenant, device: Device, viewer: Any, api_as: Any
) -> None:
    _zone(tenant, "Europe/Berlin")
    _hourly(tenant, device)
    client = api_as(viewer)
    body = _series(client, device, bucket="1d")
    assert (body["tz"], body["table"]) == ("Europe/Berlin", "telemetry_rollup_1h")
    days = body["series"]["temperature"]
    assert [datetime.fromisoformat(t).astimezone(BERLIN).isoformat() for t in days["t"]] == [
        f"2026-03-{d}T00:00:00+0{1 if d < 30 else 2}:00" for d in (27, 28, 29, 30, 31)
    ]
    assert days["count"] == [24, 24, 23, 24, 24]  # the 29th had 23 hours
    assert days["min"][:3] == [0.0, 24.0, 48.0] and days["min"][3] == 71.0
    utc = _series(client, device, bucket="1d", tz="UTC")["series"]["temperature"]
    assert utc["t"][0] == "2026-03-26T00:00:00Z" and sum(utc["count"]) == HOURS - 1  # 5 days: 119 h
    week = _series(client, device, bucket="7d")["series"]["temperature"]
    assert week["t"] == ["2026-03-22T23:00:00Z", "2026-03-29T22:00:00Z"]  # Mondays, local
    assert week["count"] == [24 + 24 + 23, 24 + 24]  # Friday to Sunday, Monday and Tuesday
    bad = client.get(f"/api/v1/devices/{device.pk}/series", {"bucket": "1d", "tz": "Mars/Base"})
    assert bad.status_code == 400 and "Mars/Base" in bad.json()["tz"][0]


@pytest.mark.django_db
def test_a_zone_half_an_hour_off_reads_the_minute_rollups(
    tenant: Tenant, device: Device, viewer: Any, api_as: Any
) -> None:
    _hourly(tenant, device, step=timedelta(minutes=30))
    body = _series(api_as(viewer), device, bucket="1d", tz="Asia/Kolkata")
    assert body["table"] == "telemetry_rollup_1m"
    kolkata = ZoneInfo("Asia/Kolkata")
    first = START.astimezone(UTC)
    want: dict[datetime, int] = {}
    for i in range(HOURS):
        day = (first + i * timedelta(minutes=30)).astimezone(kolkata).date()
        key = datetime(day.year, day.month, day.day, tzinfo=kolkata)
        want[key] = want.get(key, 0) + 1
    got = body["series"]["temperature"]
    assert [datetime.fromisoformat(t) for t in got["t"]] == sorted(want)
    assert got["count"] == [want[k] for k in sorted(want)]


@pytest.mark.django_db
def test_fleet_days_follow_the_tenant(
    tenant: Tenant, device: Device, other_device: Device, viewer: Any, api_as: Any
) -> None:
    _zone(tenant, "Europe/Berlin")
    _hourly(tenant, device)
    known_readings.write([(START, other_device.tenant_id, other_device.id, "temperature", 5.0)])
    fleet = api_as(viewer).get(
        "/api/v1/telemetry/fleet",
        {"metric": "temperature", "bucket": "1d", "start": START.isoformat(),
         "end": (START + timedelta(days=3)).isoformat()},
    )  # fmt: skip
    body = fleet.json()["series"]["temperature"]
    assert body["count"] == [24, 24, 23] and body["devices"] == [1, 1, 1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bucket", ["15m", "1h", "1d"])
def test_the_bucketed_export_holds_the_series_on_the_tenants_clock(
    tenant: Tenant, device: Device, other_device: Device, viewer: Any, api_as: Any, bucket: str
) -> None:
    _zone(tenant, "Europe/Berlin")
    _hourly(tenant, device, step=timedelta(minutes=20))
    client = api_as(viewer)
    window = {"start": START.isoformat(), "end": (START + timedelta(days=2)).isoformat()}
    got = client.get(
        "/api/v1/telemetry/export.csv", {"devices": str(device.pk), "bucket": bucket, **window}
    )
    assert got.status_code == 200
    rows = list(csv.DictReader(io.StringIO(streamed(got).decode())))
    want = _series(client, device, bucket=bucket)["series"]["temperature"]
    n = len(rows)
    assert n > 0 and [r["time"] for r in rows] == [
        datetime.fromisoformat(t).astimezone(BERLIN).isoformat() for t in want["t"][:n]
    ]
    assert [int(r["count"]) for r in rows] == want["count"][:n]
    assert [float(r["avg"]) for r in rows] == pytest.approx(want["avg"][:n], rel=1e-12)
    assert {r["device"] for r in rows} == {device.serial}
    foreign = client.get(
        "/api/v1/telemetry/export.csv",
        {"devices": f"{device.pk},{other_device.pk}", "bucket": bucket, **window},
    )
    assert foreign.status_code == 404
    odd = client.get("/api/v1/telemetry/export.csv", {"devices": str(device.pk), "bucket": "5m"})
    assert odd.status_code == 400 and "bucket" in odd.json()


@pytest.mark.django_db(transaction=True)
def test_the_readings_export_writes_the_clock_asked_for(
    tenant: Tenant, device: Device, viewer: Any, api_as: Any
) -> None:
    _zone(tenant, "America/New_York")
    _hourly(tenant, device)
    client = api_as(viewer)
    window = {"devices": str(device.pk), "start": START.isoformat(),
              "end": (START + timedelta(hours=2)).isoformat(), "layout": "long"}  # fmt: skip
    local = list(csv.reader(io.StringIO(streamed(client.get(
        "/api/v1/telemetry/export.csv", window)).decode())))  # fmt: skip
    assert local[1][0] == "2026-03-26T19:00:00-04:00"  # Berlin's midnight, in New York
    utc = list(csv.reader(io.StringIO(streamed(client.get(
        "/api/v1/telemetry/export.csv", {**window, "tz": "UTC"})).decode())))  # fmt: skip
    assert utc[1][0] == "2026-03-26T23:00:00Z"
    bad = client.get("/api/v1/telemetry/export.csv", {**window, "tz": "Nowhere"})
    assert bad.status_code == 400 and "tz" in bad.json()
