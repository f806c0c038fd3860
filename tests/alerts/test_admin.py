"""Alert rules and alarms in the Django admin: a tenant admin sees and edits their own, a rule
is checked as the API checks it, another tenant's is a 404, alarms are read-only there."""

from datetime import UTC, datetime
from typing import Any

import pytest

from alerts import alarms, rules
from alerts.models import AlertRule
from devices.models import Device
from iotplatform.tenancy.models import Tenant


def _rule(tenant: Tenant, device: Device, name: str) -> AlertRule:
    return rules.rule_create(
        tenant=tenant, name=name, device_type=device.type, kind="offline", severity="major"
    )


def _form(rule: AlertRule, **fields: Any) -> dict[str, Any]:
    data = {
        "tenant": rule.tenant_id,
        "name": rule.name,
        "device_type": rule.device_type_id,
        "device": "",
        "kind": rule.kind,
        "metric": rule.metric,
        "direction": rule.direction,
        "threshold": "" if rule.threshold is None else rule.threshold,
        "clear_threshold": "",
        "duration_seconds": rule.duration_seconds,
        "window_seconds": rule.window_seconds,
        "severity": rule.severity,
        "cooldown_seconds": rule.cooldown_seconds,
        "enabled": "on",
    }
    data.update(fields)
    return data


@pytest.mark.django_db
def test_a_tenant_admin_edits_own_rules_checked_as_the_api_checks_them(
    page_as: Any, admin: Any, tenant: Tenant, device: Device, other_device: Device
) -> None:
    mine = _rule(tenant, device, "pump offline")
    theirs = _rule(other_device.tenant, other_device, "press offline")
    client = page_as(admin)
    listed = client.get("/admin/alerts/alertrule/")
    assert b"pump offline" in listed.content and b"press offline" not in listed.content
    assert client.get(f"/admin/alerts/alertrule/{theirs.pk}/change/").status_code == 404
    page = f"/admin/alerts/alertrule/{mine.pk}/change/"
    refused = client.post(page, _form(mine, threshold="5"))
    assert refused.status_code == 200 and b"takes no threshold" in refused.content
    saved = client.post(page, _form(mine, severity="critical"))
    assert saved.status_code == 302
    mine.refresh_from_db()
    assert mine.severity == "critical" and mine.threshold is None
    # their device type is no choice here
    sneaky = client.post(page, _form(mine, device_type=other_device.type_id))
    assert b"Select a valid choice" in sneaky.content


@pytest.mark.django_db
def test_alarms_are_read_only_in_the_admin(
    page_as: Any, admin: Any, tenant: Tenant, device: Device, other_device: Device
) -> None:
    at = datetime(2026, 5, 4, tzinfo=UTC)
    mine = alarms.alarm_raise(
        rule=_rule(tenant, device, "a"), device=device, value=None, at=at
    ).alarm
    theirs = alarms.alarm_raise(
        rule=_rule(other_device.tenant, other_device, "b"), device=other_device, value=None, at=at
    ).alarm
    client = page_as(admin)
    assert client.get("/admin/alerts/alarm/").status_code == 200
    assert client.get(f"/admin/alerts/alarm/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/alerts/alarm/{theirs.pk}/change/").status_code == 404
    client.post(f"/admin/alerts/alarm/{mine.pk}/change/", {"status": "closed"})
    mine.refresh_from_db()
    assert mine.status == "open"
