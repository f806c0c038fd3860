"""The alarm lifecycle on the real database: raised once per (device, rule) however many
processes raise it at once, repeated with a count, reopened within the cooldown, acknowledged,
cleared, closed and commented on by people (a step the state does not allow is a 409), every step
recorded and announced live to its own tenant, another tenant's alarms never seen or touched."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from alerts import alarms, rules
from alerts.models import Alarm, AlarmActivity, AlarmStatus, AlertRule
from devices.models import Device
from iotplatform import live
from iotplatform.tenancy.models import Tenant

from .. import factories

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
URL = "/api/v1/alerts/alarms"


def _rule(tenant: Tenant, device: Device, **fields: Any) -> AlertRule:
    return rules.rule_create(
        tenant=tenant,
        **{
            "name": f"hot {device.type.name}",
            "device_type": device.type,
            "kind": "threshold",
            "metric": "temperature",
            "threshold": 85.0,
            "severity": "critical",
            "cooldown_seconds": 300,
            **fields,
        },
    )


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    def record(*, tenant_id: int, event: Any, data: Any, group: Any = None) -> None:
        sent.append({"tenant": tenant_id, "event": str(event), "data": data})

    monkeypatch.setattr(live, "publish", record)
    return sent


@pytest.mark.django_db
def test_raised_opened_once_repeated_then_cleared_and_reopened_within_the_cooldown(
    tenant: Tenant, device: Device, django_capture_on_commit_callbacks: Any, published: list
) -> None:
    rule = _rule(tenant, device)
    with django_capture_on_commit_callbacks(execute=True):
        first = alarms.alarm_raise(rule=rule, device=device, value=86.0, at=T0)
        again = alarms.alarm_raise(
            rule=rule, device=device, value=91.5, at=T0 + timedelta(seconds=5)
        )
    assert (first.action, again.action) == ("opened", "repeated")
    alarm = Alarm.objects.get()
    assert (alarm.status, alarm.occurrences, alarm.first_value, alarm.last_value) == (
        "open",
        2,
        86.0,
        91.5,
    )
    assert (alarm.opened_at, alarm.last_seen_at, alarm.severity) == (
        T0,
        T0 + timedelta(seconds=5),
        "critical",
    )
    assert [e["data"]["action"] for e in published] == ["opened", "repeated"]
    assert {e["tenant"] for e in published} == {tenant.id} and published[0]["event"] == "alarm"
    assert published[1]["data"]["occurrences"] == 2 and published[1]["data"]["value"] == 91.5

    # cleared by the platform (its condition), then raised again within the cooldown: the same
    # alarm, open again — a flapping signal makes one alarm, not one a flap
    alarms.alarm_clear(alarm=alarm, value=80.0, at=T0 + timedelta(seconds=60))
    back = alarms.alarm_raise(rule=rule, device=device, value=88.0, at=T0 + timedelta(seconds=200))
    assert back.action == "reopened" and back.alarm.pk == alarm.pk
    alarm.refresh_from_db()
    assert (alarm.status, alarm.occurrences, alarm.cleared_at) == ("open", 3, None)
    # past the cooldown: a new alarm
    alarms.alarm_clear(alarm=alarm, at=T0 + timedelta(seconds=300))
    later = alarms.alarm_raise(rule=rule, device=device, value=87.0, at=T0 + timedelta(seconds=601))
    assert later.action == "opened" and later.alarm.pk != alarm.pk
    assert Alarm.objects.filter(status=AlarmStatus.OPEN).count() == 1
    actions = list(AlarmActivity.objects.filter(alarm=alarm).values_list("action", "actor"))
    assert actions == [("opened", None), ("cleared", None), ("reopened", None), ("cleared", None)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_raisers_make_exactly_one_alarm(tenant: Tenant) -> None:
    device = factories.make_device(tenant)
    rule = _rule(tenant, device, cooldown_seconds=600)
    threads, per_thread = 6, 15
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def raise_many(offset: int) -> None:
        try:
            start.wait()
            for k in range(per_thread):
                alarms.alarm_raise(
                    rule=rule, device=device, value=float(offset), at=T0 + timedelta(seconds=k)
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def run() -> None:
        workers = [threading.Thread(target=raise_many, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    run()
    assert not errors, errors
    alarm = Alarm.objects.get()
    assert alarm.occurrences == threads * per_thread
    assert AlarmActivity.objects.filter(action="opened").count() == 1
    # cleared, then raised by all of them at once within the cooldown: still one alarm, reopened
    # once, the others repeating it
    alarms.alarm_clear(alarm=alarm, at=T0 + timedelta(seconds=30))
    run()
    assert not errors, errors
    assert Alarm.objects.count() == 1
    alarm.refresh_from_db()
    assert alarm.status == "open" and alarm.occurrences == 2 * threads * per_thread
    assert AlarmActivity.objects.filter(action="reopened").count() == 1


@pytest.mark.django_db
def test_people_acknowledge_clear_close_and_comment_through_the_api(
    api_as: Any, operator: Any, viewer: Any, tenant: Tenant, device: Device
) -> None:
    rule = _rule(tenant, device)
    alarm = alarms.alarm_raise(rule=rule, device=device, value=90.0, at=T0).alarm
    one = f"{URL}/{alarm.pk}"
    listed = api_as(viewer).get(URL, {"status": "active", "min_severity": "major"}).json()
    assert [a["id"] for a in listed["results"]] == [alarm.pk]
    assert (
        api_as(viewer).get(URL, {"min_severity": "info", "status": "cleared"}).json()["count"] == 0
    )
    assert api_as(viewer).get(URL, {"status": "snoozed"}).status_code == 400
    assert api_as(viewer).post(f"{one}/acknowledge").status_code == 403

    acked = api_as(operator).post(f"{one}/acknowledge", {"text": "on my way"}, format="json")
    assert acked.status_code == 200, acked.content
    body = acked.json()
    assert (body["status"], body["acknowledged_by"]) == ("acknowledged", operator.username)
    twice = api_as(operator).post(f"{one}/acknowledge")
    assert twice.status_code == 409
    assert twice.json()["detail"] == "The alarm is acknowledged: it cannot be acknowledged."
    # still active: raising it again repeats the acknowledged alarm
    assert alarms.alarm_raise(rule=rule, device=device, value=92.0, at=T0).action == "repeated"

    comment = api_as(operator).post(f"{one}/comments", {"text": "bearing replaced"}, format="json")
    assert comment.status_code == 201 and comment.json()["actor"] == operator.username
    assert (
        api_as(operator).post(f"{one}/comments", {"text": "  "}, format="json").status_code == 400
    )
    assert api_as(operator).post(f"{one}/close").json()["status"] == "closed"
    assert api_as(operator).post(f"{one}/clear").status_code == 409
    detail = api_as(viewer).get(one).json()
    assert detail["cleared_by"] == operator.username and detail["closed_by"] == operator.username
    assert [(a["action"], a["actor"], a["text"]) for a in detail["activity"]] == [
        ("opened", None, ""),
        ("acknowledged", operator.username, "on my way"),
        ("commented", operator.username, "bearing replaced"),
        ("closed", operator.username, ""),
    ]
    # closed is the end: a new trouble is a new alarm
    assert alarms.alarm_raise(rule=rule, device=device, value=95.0, at=T0).action == "opened"


@pytest.mark.django_db
def test_a_rule_with_alarms_is_disabled_not_deleted(
    api_as: Any, admin: Any, tenant: Tenant, device: Device
) -> None:
    rule = _rule(tenant, device)
    alarms.alarm_raise(rule=rule, device=device, value=90.0, at=T0)
    refused = api_as(admin).delete(f"/api/v1/alerts/rules/{rule.pk}")
    assert refused.status_code == 400 and "disable it instead" in refused.json()["detail"][0]
    assert AlertRule.objects.filter(pk=rule.pk).exists()


@pytest.mark.django_db
def test_another_tenant_s_alarms_are_never_seen_or_touched(
    api_as: Any,
    operator: Any,
    other_admin: Any,
    tenant: Tenant,
    device: Device,
    django_capture_on_commit_callbacks: Any,
    published: list,
) -> None:
    rule = _rule(tenant, device)
    with django_capture_on_commit_callbacks(execute=True):
        alarm = alarms.alarm_raise(rule=rule, device=device, value=90.0, at=T0).alarm
    assert {e["tenant"] for e in published} == {tenant.id}
    theirs = api_as(other_admin)
    assert theirs.get(URL).json()["count"] == 0
    assert theirs.get(f"{URL}/{alarm.pk}").status_code == 404
    for step in ("acknowledge", "clear", "close", "comments"):
        assert (
            theirs.post(f"{URL}/{alarm.pk}/{step}", {"text": "x"}, format="json").status_code == 404
        )
    alarm.refresh_from_db()
    assert alarm.status == "open" and not AlarmActivity.objects.exclude(action="opened").exists()
    assert api_as(operator).get(URL).json()["count"] == 1
