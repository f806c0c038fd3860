"""The alert pages as the server renders them: alarms by tab and filter (a bad filter is a 400
naming it), rules with the controls the role allows, notification settings and the delivery log
— each tenant's own, never another's."""

from typing import Any

import pytest
from django.utils import timezone

from alerts import alarms, rules
from alerts.models import AlertRule
from alerts.notify import recipients_install_defaults
from devices.models import Device
from iotplatform.tenancy.models import Tenant

pytestmark = pytest.mark.django_db


def _alarm(tenant: Tenant, device: Device, name: str, severity: str = "critical") -> Any:
    rule = rules.rule_create(
        tenant=tenant,
        name=name,
        device=device,
        kind="threshold",
        metric="temperature",
        threshold=85.0,
        severity=severity,
    )
    return alarms.alarm_raise(rule=rule, device=device, value=90.0, at=timezone.now()).alarm


def test_the_alerts_page_lists_the_tenants_alarms_by_tab_and_filter(
    tenant: Tenant, device: Device, other_device: Device, viewer: Any, page_as: Any
) -> None:
    hot = _alarm(tenant, device, "Pump hot")
    minor = _alarm(tenant, device, "Pump warm", severity="minor")
    _alarm(other_device.tenant, other_device, "Press hot")
    alarms.alarm_clear(alarm=minor, value=70.0)
    client = page_as(viewer)
    active = client.get("/alerts/").content.decode()
    assert f'data-alarm="{hot.pk}"' in active and f'data-alarm="{minor.pk}"' not in active
    assert "Press hot" not in active and "Globex" not in active
    assert 'data-step="acknowledge"' not in active  # viewers read
    history = client.get("/alerts/?tab=history").content.decode()
    assert f'data-alarm="{minor.pk}"' in history and f'data-alarm="{hot.pk}"' not in history
    major_up = client.get("/alerts/?tab=history&severity=major").content.decode()
    assert f'data-alarm="{minor.pk}"' not in major_up
    assert client.get(f"/alerts/?rule={hot.rule_id}&since=1h").status_code == 200
    bad = client.get("/alerts/?severity=dire&since=forever")
    assert bad.status_code == 400
    assert b"severity: Select a valid choice" in bad.content and b"since:" in bad.content


def test_operators_get_the_alarm_steps_and_the_rule_switches_only(
    tenant: Tenant, device: Device, operator: Any, admin: Any, page_as: Any
) -> None:
    _alarm(tenant, device, "Pump hot")
    page = page_as(operator).get("/alerts/").content.decode()
    assert 'data-step="acknowledge"' in page and 'id="comment-form"' in page
    ruled = page_as(operator).get("/alerts/rules/").content.decode()
    assert "data-toggle" in ruled and " disabled" not in ruled.split("data-toggle")[1][:80]
    assert "New rule" not in ruled and "data-edit" not in ruled
    admins = page_as(admin).get("/alerts/rules/").content.decode()
    assert "New rule" in admins and "data-edit" in admins and "Pump hot" in admins


def test_the_rules_page_shows_only_the_tenants_rules(
    tenant: Tenant,
    other_tenant: Tenant,
    device: Device,
    other_device: Device,
    viewer: Any,
    page_as: Any,
) -> None:
    AlertRule.objects.create(
        tenant=other_tenant, name="Globex secret rule", device=other_device, kind="offline"
    )
    rules.rule_create(tenant=tenant, name="Pump offline", device=device, kind="offline")
    page = page_as(viewer).get("/alerts/rules/").content.decode()
    assert "Pump offline" in page and "Globex secret rule" not in page
    assert "Globex Press" not in page  # not among the dialog's devices either
    assert "disabled" in page.split("data-toggle")[1][:80]  # viewers cannot switch


def test_the_notifications_page_shows_ones_settings_and_the_admins_recipients(
    tenant: Tenant,
    other_tenant: Tenant,
    device: Device,
    admin: Any,
    viewer: Any,
    other_admin: Any,
    page_as: Any,
) -> None:
    recipients_install_defaults(tenant=tenant)
    recipients_install_defaults(tenant=other_tenant)
    viewer.email, admin.email = "vera@acme.example", "alice@acme.example"
    viewer.save()
    admin.save()
    rules.rule_create(
        tenant=tenant,
        name="Pump hot",
        device=device,
        kind="threshold",
        metric="temperature",
        threshold=85.0,
        severity="critical",
    )
    _alarm(tenant, device, "Pump very hot")
    mine = page_as(viewer).get("/alerts/notifications/").content.decode()
    assert "vera@acme.example" in mine and 'id="recipients"' not in mine
    assert "alice@acme.example" not in mine  # the log is one's own
    theirs = page_as(admin).get("/alerts/notifications/").content.decode()
    assert 'id="recipients"' in theirs and "alice@acme.example" in theirs
    assert "Pump very hot on Pump 1" in theirs
    assert other_admin.username not in theirs  # another tenant's people are no choice


def test_the_reports_page_shows_the_tenants_schedules_and_runs_with_the_roles_controls(
    tenant: Tenant, other_tenant: Tenant, admin: Any, operator: Any, viewer: Any, page_as: Any
) -> None:
    from datetime import time

    from alerts.models import ReportSchedule
    from alerts.report_runs import run_make
    from alerts.reports import schedule_save

    ours = schedule_save(
        tenant=tenant, name="Pumps daily", at=time(7), emails=["plant@acme.example"]
    )
    schedule_save(tenant=other_tenant, name="Globex secret", at=time(6), emails=["g@x.example"])
    run = run_make(ours)
    page = page_as(viewer).get("/reports/").content.decode()
    assert "Pumps daily" in page and "Daily at 07:00" in page and "Globex secret" not in page
    assert f"/api/v1/reports/runs/{run.pk}/files/summary.csv" in page
    assert f"/api/v1/reports/runs/{run.pk}/archive" in page and f'id="run-{run.pk}"' in page
    assert "data-send" not in page and "New schedule" not in page
    operated = page_as(operator).get("/reports/").content.decode()
    assert "data-send" in operated and "data-edit" not in operated
    administered = page_as(admin).get("/reports/").content.decode()
    assert "New schedule" in administered and "data-edit" in administered
    assert ReportSchedule.objects.count() == 2
