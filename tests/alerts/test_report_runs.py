"""Reports produced on their schedules, on the real database and SMTP sink: beat's entry kept in
step with the schedule (a crontab in the tenant's zone: 07:00 local on both sides of a
daylight-saving change), the period's files with the same numbers as the statistics API, one run
and one email per schedule and period however often beat ticks, another tenant's devices never
in a report and its reports out of reach."""

import csv
import io
import zipfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django_celery_beat.models import PeriodicTask

from alerts import alarms, rules
from alerts.models import ReportRun, ReportSchedule
from alerts.report_runs import run_files, run_make, run_send, task_name
from alerts.reports import schedule_save
from alerts.tasks import report_run
from devices.models import Device
from devices.services import device_create, device_types_install_catalog
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading
from telemetry.rollups import rollups_rebuild

from ..factories import streamed
from .notifying import inbox, text_of

pytestmark = pytest.mark.django_db
# Berlin moved to summer time on 29 March 2026: that day ran 23:00 UTC (28th) to 22:00 UTC.
DAY_START = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
DAY_END = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
RUN_AT = datetime(2026, 3, 30, 5, 0, tzinfo=UTC)  # 07:00 in Berlin


def _berlin(tenant: Tenant) -> Tenant:
    tenant.timezone = "Europe/Berlin"
    tenant.save()
    return tenant


def _pump(tenant: Tenant, serial: str) -> Device:
    pump = next(t for t in device_types_install_catalog(tenant=tenant) if t.name == "pump")
    return device_create(tenant=tenant, device_type=pump, name=f"Pump {serial}", serial=serial)[0]


def _readings(device: Device, values: list[tuple[datetime, float]]) -> None:
    Reading.objects.bulk_create(
        Reading(time=t, tenant_id=device.tenant_id, device=device, metric="temperature", value=v)
        for t, v in values
    )
    rollups_rebuild(connection, since=DAY_START - timedelta(days=1))


def _daily(tenant: Tenant, **fields: Any) -> ReportSchedule:
    return schedule_save(
        tenant=tenant,
        **{"name": "Daily", "at": time(7), "sections": ["summary", "alarms"],
           "emails": ["plant@acme.example"], **fields},
    )  # fmt: skip


def test_beat_follows_the_schedule_at_local_time_across_a_dst_change(tenant: Tenant) -> None:
    schedule = _daily(_berlin(tenant), frequency="weekly", weekday=0)
    task = PeriodicTask.objects.get(name=task_name(schedule.pk))
    assert (task.task, task.enabled, task.kwargs) == (
        "alerts.report_run",
        True,
        f'{{"schedule": {schedule.pk}}}',
    )
    crontab = task.crontab
    assert (crontab.hour, crontab.minute, crontab.day_of_week, str(crontab.timezone)) == (
        "7",
        "0",
        "1",
        "Europe/Berlin",
    )
    daily = _daily(tenant, name="Every day")
    schedule_ = PeriodicTask.objects.get(name=task_name(daily.pk)).crontab.schedule
    berlin = ZoneInfo("Europe/Berlin")
    for last, expected in (
        (datetime(2026, 3, 28, 7, 0, tzinfo=berlin), datetime(2026, 3, 29, 5, 0, tzinfo=UTC)),
        (datetime(2026, 3, 27, 7, 0, tzinfo=berlin), datetime(2026, 3, 28, 6, 0, tzinfo=UTC)),
        (datetime(2026, 10, 24, 7, 0, tzinfo=berlin), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)),
    ):
        start, step, _ = schedule_.remaining_delta(last)
        assert (start + step).astimezone(UTC) == expected  # 07:00 in Berlin, summer or winter
    schedule_save(tenant=tenant, schedule=schedule, enabled=False, at=time(6, 30))
    task.refresh_from_db()
    assert not task.enabled and (task.crontab.hour, task.crontab.minute) == ("6", "30")
    tenant.timezone = "America/New_York"  # the tenant moves: its reports' times go with it
    tenant.save()
    task.refresh_from_db()
    assert str(task.crontab.timezone) == "America/New_York" and task.crontab.hour == "6"
    schedule.delete()
    assert not PeriodicTask.objects.filter(name=task_name(schedule.pk)).exists()


def test_a_days_report_holds_the_apis_numbers_and_is_emailed_once(
    tenant: Tenant, other_tenant: Tenant, viewer: Any, api_as: Any, smtp: Path
) -> None:
    _berlin(tenant)
    viewer.email = "vera@acme.example"
    viewer.save()
    pump = _pump(tenant, "P-1")
    theirs = _pump(other_tenant, "G-1")
    values = [(DAY_START + timedelta(minutes=7 * i), 60.0 + (i % 30)) for i in range(190)]
    _readings(pump, [(DAY_START - timedelta(minutes=1), 99.0), *values,
                     (DAY_END, 99.0)])  # fmt: skip
    _readings(theirs, [(DAY_START + timedelta(hours=1), 70.0)])
    hot = rules.rule_create(
        tenant=tenant,
        name="hot",
        device=pump,
        kind="threshold",
        metric="temperature",
        threshold=85.0,
        severity="major",
    )
    alarms.alarm_raise(rule=hot, device=pump, value=88.0, at=DAY_START + timedelta(hours=3))
    schedule = _daily(tenant, people=[viewer])
    run = run_make(schedule, at=RUN_AT)
    assert (run.period_start, run.period_end) == (DAY_START, DAY_END)  # a 23-hour day
    assert run.recipients == ["plant@acme.example", "vera@acme.example"]
    files = run_files(run)
    [row] = list(csv.DictReader(io.StringIO(files["summary.csv"].decode())))
    stats = (
        api_as(viewer)
        .get(
            f"/api/v1/devices/{pump.pk}/statistics",
            {"start": DAY_START.isoformat(), "end": DAY_END.isoformat(), "metrics": "temperature"},
        )
        .json()["metrics"]["temperature"]
    )
    assert int(row["count"]) == stats["count"] == 190
    for column, figure in (("min", stats["min"]), ("max", stats["max"]), ("mean", stats["mean"]),
                           ("p95", stats["percentiles"]["p95"])):  # fmt: skip
        assert float(row[column]) == pytest.approx(figure, rel=1e-5), column
    assert float(row["last"]) == values[-1][1]
    warn = pump.metric_definitions()["temperature"]["warn_high"]
    assert int(row["minutes_past_warning"]) == sum(v > warn for _, v in values)
    assert row["device"] == "Pump P-1" and "Pump G-1" not in files["summary.csv"].decode()
    [alarm] = list(csv.DictReader(io.StringIO(files["alarms.csv"].decode())))
    assert (alarm["rule"], alarm["severity"], alarm["opened_at"]) == (
        "hot",
        "major",
        "2026-03-29T04:00:00+02:00",
    )
    assert run_send(run.pk) == "sent" and run_send(run.pk) == "not due"
    assert run_make(schedule, at=RUN_AT + timedelta(minutes=1)).pk == run.pk  # a second tick
    [mail] = inbox(smtp)
    assert mail["Subject"] == "[Report] Daily: 2026-03-29 to 2026-03-30 (Acme Plant)"
    assert sorted(str(mail["To"]).split(", ")) == ["plant@acme.example", "vera@acme.example"]
    names = sorted(str(p.get_filename()) for p in mail.iter_attachments())
    assert names == ["alarms.csv", "summary.csv"]
    assert "summary.csv: 1 row" in text_of(mail) and f"/reports/#run-{run.pk}" in text_of(mail)


def test_a_beat_that_fires_twice_makes_one_run_and_one_email(
    tenant: Tenant, smtp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: RUN_AT)
    schedule = _daily(_berlin(tenant))
    assert report_run(schedule.pk) == "sent"
    assert report_run(schedule.pk) == "not due"
    assert ReportRun.objects.count() == 1 and len(inbox(smtp)) == 1


def test_another_tenants_reports_are_out_of_reach(
    tenant: Tenant, other_tenant: Tenant, admin: Any, other_admin: Any, api_as: Any
) -> None:
    ours = run_make(_daily(tenant), at=RUN_AT)
    theirs = run_make(_daily(other_tenant), at=RUN_AT)
    api = api_as(admin)
    assert [r["id"] for r in api.get("/api/v1/reports/runs").json()["results"]] == [ours.pk]
    assert api.get(f"/api/v1/reports/runs/{theirs.pk}").status_code == 404
    assert api.get(f"/api/v1/reports/runs/{theirs.pk}/files/summary.csv").status_code == 404
    got = api.get(f"/api/v1/reports/runs/{ours.pk}/files/summary.csv")
    assert got.status_code == 200 and streamed(got).startswith(b"device_id,device,serial")
    assert api.get(f"/api/v1/reports/runs/{theirs.pk}/archive").status_code == 404
    whole = api.get(f"/api/v1/reports/runs/{ours.pk}/archive")
    with zipfile.ZipFile(io.BytesIO(streamed(whole))) as archive:
        assert archive.namelist() == ["summary.csv", "alarms.csv"]
    missing = api.get(f"/api/v1/reports/runs/{ours.pk}/files/secrets.csv")
    assert missing.status_code == 404 and "summary.csv" in missing.json()["detail"]


def test_an_operator_sends_a_report_now_beside_the_scheduled_one(
    tenant: Tenant, operator: Any, viewer: Any, other_admin: Any, api_as: Any, smtp: Path
) -> None:
    schedule = _daily(tenant)
    scheduled = run_make(schedule, at=RUN_AT)
    url = f"/api/v1/reports/schedules/{schedule.pk}/send"
    assert api_as(viewer).post(url).status_code == 403
    assert api_as(other_admin).post(url).status_code == 404
    sent = api_as(operator).post(url)
    assert sent.status_code == 202, sent.json()
    run = ReportRun.objects.get(pk=sent.json()["id"])
    assert run.pk != scheduled.pk and run.manual and run.requested_by == operator
    assert run_send(run.pk) in ("sent", "not due")  # the worker's task may not have run here
    assert ReportRun.objects.filter(schedule=schedule, manual=False).count() == 1


def test_a_preview_shows_the_first_rows_without_saving(
    tenant: Tenant, other_tenant: Tenant, admin: Any, operator: Any, api_as: Any
) -> None:
    pump = _pump(tenant, "P-9")
    now = datetime.now(UTC)
    _readings(pump, [(now - timedelta(days=1, minutes=m), 60.0 + m) for m in range(0, 600, 60)])
    body = {
        "name": "Try",
        "at": "07:00",
        "emails": ["a@acme.example"],
        "sections": ["summary", "alarms"],
        "scope": "list",
        "devices": [pump.pk],
    }
    shown = api_as(admin).post("/api/v1/reports/preview", body, format="json")
    assert shown.status_code == 200, shown.json()
    summary, alarms_ = shown.json()["files"]
    assert summary["name"] == "summary.csv" and summary["header"][:3] == [
        "device_id",
        "device",
        "serial",
    ]
    assert summary["rows"] == 1 and summary["first"][0][1] == "Pump P-9"
    assert alarms_["rows"] == 0
    assert not ReportSchedule.objects.exists()
    bad = api_as(admin).post("/api/v1/reports/preview", {**body, "emails": ["nope"]}, format="json")
    assert bad.status_code == 400 and "'nope'" in str(bad.json()["emails"])
    assert api_as(operator).post("/api/v1/reports/preview", body, format="json").status_code == 403
    theirs = _pump(other_tenant, "G-9")  # another tenant's device is no choice
    sneaky = api_as(admin).post(
        "/api/v1/reports/preview", {**body, "devices": [theirs.pk]}, format="json"
    )
    assert sneaky.status_code == 400 and "Unknown devices" in str(sneaky.json()["devices"])


def test_the_anomaly_section_holds_the_periods_spells_and_the_scores_at_its_end(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    from analytics.models import AnomalyEvent

    _berlin(tenant)
    pump = _pump(tenant, "P-1")
    theirs = _pump(other_tenant, "G-1")
    spell = {"detector": "pca", "minutes": 12, "peak_score": 3.5,
             "drivers": [{"metric": "vibration", "share": 0.7, "value": 2.1}]}  # fmt: skip
    AnomalyEvent.objects.create(tenant=tenant, device=pump, started_at=DAY_START + timedelta(
        hours=2), last_at=DAY_START + timedelta(hours=3), ended_at=DAY_START + timedelta(hours=3),
        **spell)  # fmt: skip
    AnomalyEvent.objects.create(
        tenant=tenant,
        device=pump,
        started_at=DAY_START - timedelta(days=3),
        last_at=DAY_START - timedelta(days=2),
        ended_at=DAY_START - timedelta(days=2),
        **spell,
    )  # fmt: skip  (over before the period: not in it)
    AnomalyEvent.objects.create(tenant=other_tenant, device=theirs, started_at=DAY_START,
                                last_at=DAY_START, **spell)  # fmt: skip
    Reading.objects.bulk_create(
        Reading(
            time=DAY_START + timedelta(hours=h),
            tenant_id=tenant.pk,
            device=pump,
            metric=metric,
            value=value,
        )
        for h, metric, value in (
            (1, "_health", 90.0),
            (20, "_health", 71.0),
            (20, "_rul_hours", 340.0),
            (23, "_health", 10.0),
        )
    )  # fmt: skip  (the last at 23 h is after the 23-hour day's end)
    run = run_make(_daily(tenant, sections=["anomalies"]), at=RUN_AT)
    files = run_files(run)
    assert sorted(files) == ["anomalies.csv", "health.csv"]
    [event] = list(csv.DictReader(io.StringIO(files["anomalies.csv"].decode())))
    assert (event["device"], event["started_at"], event["drivers"]) == (
        "Pump P-1",
        "2026-03-29T03:00:00+02:00",
        "vibration 70%",
    )
    [score] = list(csv.DictReader(io.StringIO(files["health.csv"].decode())))
    assert (score["health"], score["rul_hours"], score["rul_low"]) == ("71", "340", "")


def test_attachments_over_the_size_limit_go_as_one_zip(
    tenant: Tenant, smtp: Path, settings: Any
) -> None:
    settings.REPORTS_ZIP_OVER_BYTES = 10
    run = run_make(_daily(tenant), at=RUN_AT)
    assert run_send(run.pk) == "sent"
    [mail] = inbox(smtp)
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == f"report-{run.pk}.zip"
    with zipfile.ZipFile(io.BytesIO(attachment.get_content())) as archive:
        assert sorted(archive.namelist()) == ["alarms.csv", "summary.csv"]
