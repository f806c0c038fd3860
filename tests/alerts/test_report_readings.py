"""The readings section of a report (the bucketed export's file, written by the database device
by device into the report's zip) and what becomes of a large report: its numbers equal the
series API's for the same buckets of the tenant's day, its times are on the tenant's clock,
another tenant's devices are never in it, and a report too large to mail is linked, not
attached. Real database, real SMTP sink."""

import csv
import io
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from alerts.models import ReportRun
from alerts.report_runs import parts_sweep, run_files, run_make, run_send
from devices.models import Device
from iotplatform.tenancy.models import Tenant

from ..factories import streamed
from .notifying import inbox, text_of
from .test_report_runs import DAY_END, DAY_START, RUN_AT, _berlin, _daily, _pump, _readings

pytestmark = pytest.mark.django_db


def _day_of_readings(pump: Device) -> None:
    """A reading every 7 minutes through Berlin's 23-hour day, and one on each side of it."""
    values = [(DAY_START + timedelta(minutes=7 * i), 50.0 + (i * 13) % 40) for i in range(197)]
    _readings(pump, [(DAY_START - timedelta(minutes=1), 99.0), *values, (DAY_END, 99.0)])


@pytest.mark.parametrize("bucket", ["1m", "15m", "1h"])
def test_the_readings_hold_the_series_apis_buckets_on_the_tenants_clock(
    tenant: Tenant, other_tenant: Tenant, viewer: Any, api_as: Any, bucket: str
) -> None:
    _berlin(tenant)
    pump = _pump(tenant, "P-1")
    theirs = _pump(other_tenant, "G-1")
    _day_of_readings(pump)
    _readings(theirs, [(DAY_START + timedelta(hours=2), 70.0)])
    listed: dict[str, Any] = {}
    if bucket == "15m":  # one device of five: probed by its key rather than the tenant scanned
        for i in range(4):
            _pump(tenant, f"X-{i}")
        listed = {"scope": "list", "devices": [pump]}
    schedule = _daily(
        tenant, sections=["readings"], bucket=bucket, metrics=["temperature"], **listed
    )
    run = run_make(schedule, at=RUN_AT)
    rows = list(csv.DictReader(io.StringIO(run_files(run)["readings.csv"].decode())))
    assert run.files == [
        {"name": "readings.csv", "rows": len(rows), "bytes": run.files[0]["bytes"]}
    ]
    series = (
        api_as(viewer)
        .get(
            f"/api/v1/devices/{pump.pk}/series",
            {
                "start": DAY_START.isoformat(),
                "end": DAY_END.isoformat(),
                "metrics": "temperature",
                "bucket": bucket,
            },
        )
        .json()
    )
    assert series["tz"] == "Europe/Berlin"
    want = series["series"]["temperature"]
    assert [r["time"] for r in rows] == [_local(t) for t in want["t"]]
    assert [int(r["count"]) for r in rows] == want["count"]
    for column in ("min", "avg", "max"):
        assert [float(r[column]) for r in rows] == pytest.approx(want[column], rel=1e-12)
    assert {(r["device_id"], r["device"], r["metric"]) for r in rows} == {
        (str(pump.pk), "P-1", "temperature")
    }
    # The day's first bucket is at midnight in winter time, its last in summer time.
    assert rows[0]["time"] == "2026-03-29T00:00:00+01:00"
    assert rows[-1]["time"].endswith("+02:00") and rows[-1]["time"] < "2026-03-30"


def _local(iso_utc: str) -> str:
    when = datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    return when.astimezone(ZoneInfo("Europe/Berlin")).isoformat()


def test_a_report_too_large_to_mail_links_to_its_zip(
    tenant: Tenant, admin: Any, api_as: Any, smtp: Path, settings: Any
) -> None:
    pump = _pump(tenant, "P-1")
    _day_of_readings(pump)
    settings.REPORTS_ZIP_OVER_BYTES = 10
    settings.REPORTS_ATTACH_MAX_BYTES = 100
    run = run_make(_daily(tenant, sections=["summary", "readings"], bucket="1m"), at=RUN_AT)
    assert run.archive.size > 100
    assert run_send(run.pk) == "sent"
    [mail] = inbox(smtp)
    assert list(mail.iter_attachments()) == []
    text = text_of(mail)
    assert "too large to send by email" in text and f"/reports/#run-{run.pk}" in text
    got = api_as(admin).get(f"/api/v1/reports/runs/{run.pk}/files/readings.csv")
    assert got.status_code == 200
    lines = streamed(got).decode().splitlines()
    assert lines[0] == "time,device_id,device,metric,count,min,avg,max"
    assert len(lines) - 1 == next(f["rows"] for f in run.files if f["name"] == "readings.csv")
    page = api_as(admin).get(f"/api/v1/reports/runs/{run.pk}").json()
    assert page["archive_bytes"] == run.archive.size == run.archive_bytes


def test_a_preview_reads_the_readings_only_as_far_as_it_shows(
    tenant: Tenant, other_tenant: Tenant, admin: Any, api_as: Any
) -> None:
    pump = _pump(tenant, "P-1")
    theirs = _pump(other_tenant, "G-1")
    yesterday = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=1
    )
    _readings(pump, [(yesterday + timedelta(minutes=m), 60.0 + m % 9) for m in range(40)])
    body = {
        "name": "Try", "at": "07:00", "emails": ["a@acme.example"], "sections": ["readings"],
        "bucket": "1m", "scope": "list", "devices": [pump.pk],
    }  # fmt: skip
    shown = api_as(admin).post("/api/v1/reports/preview", body, format="json")
    assert shown.status_code == 200, shown.json()
    [readings] = shown.json()["files"]
    assert readings["rows"] is None and len(readings["first"]) == 10
    assert readings["first"][0][2:5] == ["P-1", "temperature", "1"]
    foreign = api_as(admin).post(
        "/api/v1/reports/preview", {**body, "devices": [theirs.pk]}, format="json"
    )
    assert foreign.status_code == 400 and "devices" in foreign.json()
    assert not ReportRun.objects.exists()


def test_a_deleted_report_takes_its_zip_and_dead_writers_parts_are_swept(
    tenant: Tenant, admin: Any, api_as: Any
) -> None:
    run = run_make(_daily(tenant), at=RUN_AT)
    path = Path(run.archive.path)
    assert path.exists()
    path.unlink()  # lost from the storage: a 404 saying so, not a broken download
    gone = api_as(admin).get(f"/api/v1/reports/runs/{run.pk}/files/summary.csv")
    assert gone.status_code == 404 and "no longer kept" in gone.json()["detail"]
    run = run_make(_daily(tenant, name="Again"), at=RUN_AT)
    path = Path(run.archive.path)
    run.delete()
    assert not path.exists()
    stale = path.parent.parent / "dead-writer.part"
    stale.write_bytes(b"PK")
    fresh = path.parent.parent / "busy-writer.part"
    fresh.write_bytes(b"PK")
    os.utime(stale, (time.time() - 2 * 86400,) * 2)
    assert parts_sweep() == 1 and not stale.exists() and fresh.exists()
    fresh.unlink()
