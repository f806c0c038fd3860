"""Alarm notifications on the real database, SMTP sink and SMS gateway stand-in: who is told
(the severity's recipients, each person's least urgent severity and quiet hours), each channel's
wire format (SMTP with text and HTML, Twilio's Messages API, signed webhooks), one message per
alarm step however often it is planned or sent, retries with backoff, permanent refusals, storm
digests and the sweep that picks up lost and dead sends."""

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from alerts import alarms
from alerts.delivery import deliveries_sweep, delivery_send
from alerts.models import DeliveryStatus, NotificationDelivery, NotificationProfile
from alerts.notify import in_quiet_hours, notify_plan
from iotplatform.tenancy.models import Tenant

from .. import factories, servers
from .notifying import deliveries, hot_rule, html_of, inbox, people, raise_alarm, text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def sms(tmp_path: Path, settings: Any) -> Iterator[Path]:
    box = tmp_path / "sms"
    with servers.sms_gateway(box) as url:
        settings.SMS_BACKEND, settings.SMS_URL = "twilio", url
        settings.SMS_ACCOUNT_SID, settings.SMS_AUTH_TOKEN = servers.SMS_SID, servers.SMS_TOKEN
        settings.SMS_FROM = "+15005550006"
        yield box


def _send_all() -> list[str]:
    return [delivery_send(d.pk) for d in deliveries(status=DeliveryStatus.PENDING)]


def test_an_opened_alarm_emails_the_operators_and_admins_once(
    tenant: Tenant, device: Any, smtp: Path
) -> None:
    who = people(tenant)
    activity = raise_alarm(hot_rule(tenant, device), device)
    rows = deliveries()
    assert {(r.user, r.channel, r.status) for r in rows} == {
        (who["admin"], "email", "pending"),
        (who["operator"], "email", "pending"),
    }  # the viewer is not among the default recipients
    assert _send_all() == ["sent", "sent"]
    assert [delivery_send(r.pk) for r in rows] == ["not due", "not due"]
    notify_plan(activity, severity="critical")  # planned again: the same rows
    assert len(deliveries()) == 2
    mail = inbox(smtp)
    assert sorted(str(m["To"]) for m in mail) == ["admin@acme.example", "operator@acme.example"]
    assert mail[0]["Subject"] == f"[CRITICAL] hot pump critical on {device.name}: opened"
    link = f"https://iot.acme.example/alerts/?alarm={activity.alarm_id}"
    assert link in text_of(mail[0]) and f'href="{link}"' in html_of(mail[0])
    assert "91.5" in text_of(mail[0])
    sent = deliveries()[0]
    assert sent.status == "sent" and sent.attempts == 1 and sent.sent_at is not None
    assert sent.provider_id == str(mail[0]["Message-ID"]) or any(
        str(m["Message-ID"]) == sent.provider_id for m in mail
    )


def test_repeats_and_acknowledgements_are_quiet_and_a_clear_is_told(
    tenant: Tenant, device: Any
) -> None:
    who = people(tenant)
    rule = hot_rule(tenant, device)
    activity = raise_alarm(rule, device)
    alarms.alarm_raise(rule=rule, device=device, value=95.0, at=timezone.now())  # repeated
    alarm = alarms.alarm_acknowledge(alarm=activity.alarm, by=who["operator"])
    assert {r.activity_id for r in deliveries()} == {activity.pk}
    alarms.alarm_clear(alarm=alarm, value=70.0)
    cleared = [r for r in deliveries() if r.activity_id != activity.pk]
    assert {(r.activity and r.activity.action, r.user) for r in cleared} == {
        ("cleared", who["admin"]),
        ("cleared", who["operator"]),
    }


def test_people_hear_only_of_alarms_as_urgent_as_they_asked(tenant: Tenant, device: Any) -> None:
    who = people(tenant)
    NotificationProfile.objects.create(tenant=tenant, user=who["operator"], min_severity="critical")
    raise_alarm(hot_rule(tenant, device, severity="major"), device)
    assert [r.user for r in deliveries()] == [who["admin"]]


def test_quiet_hours_are_read_on_the_tenants_clock_and_may_span_midnight() -> None:
    profile = NotificationProfile(quiet_start=time(22, 0), quiet_end=time(6, 0))
    berlin = ZoneInfo("Europe/Berlin")
    at = datetime(2026, 7, 1, 23, 30, tzinfo=berlin)
    assert in_quiet_hours(profile, at, "Europe/Berlin")
    assert in_quiet_hours(profile, at.replace(hour=5, minute=59), "Europe/Berlin")
    assert not in_quiet_hours(profile, at.replace(hour=6), "Europe/Berlin")
    # 21:30 UTC is 23:30 in Berlin (summer): quiet there, not in UTC.
    assert not in_quiet_hours(profile, datetime(2026, 7, 1, 21, 30, tzinfo=ZoneInfo("UTC")), "UTC")
    day = NotificationProfile(quiet_start=time(9, 0), quiet_end=time(17, 0))
    assert in_quiet_hours(day, at.replace(hour=12), "Europe/Berlin")
    assert not in_quiet_hours(day, at, "Europe/Berlin")
    assert not in_quiet_hours(NotificationProfile(), at, "Europe/Berlin")


@pytest.mark.parametrize(
    ("severity", "quiet_critical", "status"),
    [
        ("major", True, "suppressed"),
        ("critical", True, "pending"),
        ("critical", False, "suppressed"),
    ],
)
def test_quiet_hours_hold_messages_back_critical_ones_by_choice(
    tenant: Tenant, device: Any, severity: str, quiet_critical: bool, status: str
) -> None:
    tenant.timezone = "Asia/Tokyo"
    tenant.save()
    who = people(tenant)
    local = timezone.now().astimezone(ZoneInfo("Asia/Tokyo"))
    start = (local - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (local + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    NotificationProfile.objects.create(
        tenant=tenant,
        user=who["operator"],
        quiet_start=start,
        quiet_end=end,
        quiet_critical=quiet_critical,
    )
    raise_alarm(hot_rule(tenant, device, severity=severity), device)
    row = NotificationDelivery.objects.get(user=who["operator"])
    assert row.status == status
    if status == "suppressed":
        assert row.reason == f"quiet hours {start:%H:%M}-{end:%H:%M} (Asia/Tokyo)"
        assert delivery_send(row.pk) == "not due"
    assert NotificationDelivery.objects.get(user=who["admin"]).status == "pending"


def test_a_text_message_goes_out_in_twilios_wire_format(
    tenant: Tenant, device: Any, sms: Path
) -> None:
    who = people(tenant)
    NotificationProfile.objects.create(
        tenant=tenant, user=who["operator"], email=False, sms=True, phone="+4915112345678"
    )
    raise_alarm(hot_rule(tenant, device), device)
    row = NotificationDelivery.objects.get(channel="sms")
    assert (row.user, row.address) == (who["operator"], "+4915112345678")
    assert delivery_send(row.pk) == "sent"
    [message] = [json.loads(line) for line in (sms / "messages.jsonl").read_text().splitlines()]
    assert message["to"] == "+4915112345678" and message["from"] == "+15005550006"
    assert f"hot pump critical on {device.name}: opened" in message["body"]
    assert len(message["body"]) <= 320
    row.refresh_from_db()
    assert row.provider_id == message["sid"] and row.provider_id.startswith("SM")


def test_bad_gateway_credentials_fail_at_once_with_the_gateways_reason(
    tenant: Tenant, device: Any, sms: Path, settings: Any
) -> None:
    settings.SMS_AUTH_TOKEN = "wrong"
    who = people(tenant)
    NotificationProfile.objects.create(
        tenant=tenant, user=who["operator"], email=False, sms=True, phone="+4915112345678"
    )
    raise_alarm(hot_rule(tenant, device), device)
    row = NotificationDelivery.objects.get(channel="sms")
    assert delivery_send(row.pk) == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.reason == "The SMS gateway answered 401: 20003 Authenticate"
    assert not (sms / "messages.jsonl").exists()


class Hook:
    """A local webhook receiver: keeps each request; answers with ``status``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append((dict(self.headers), body))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/iot?x=1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()
    yield receiver
    receiver.server.shutdown()


def test_a_webhook_is_signed_with_hmac_sha256_and_retried_on_a_server_error(
    tenant: Tenant, device: Any, hook: Hook
) -> None:
    who = people(tenant)
    NotificationProfile.objects.create(
        tenant=tenant,
        user=who["operator"],
        email=False,
        webhook=True,
        webhook_url=hook.url,
        webhook_secret="s3cret",
    )
    activity = raise_alarm(hot_rule(tenant, device), device)
    row = NotificationDelivery.objects.get(channel="webhook")
    hook.status = 503
    assert delivery_send(row.pk) == "retrying"
    row.refresh_from_db()
    assert row.reason == "The webhook answered 503: " and row.attempts == 1
    assert timedelta(seconds=9) < row.due_at - timezone.now() <= timedelta(seconds=10)
    hook.status = 204
    NotificationDelivery.objects.filter(pk=row.pk).update(due_at=timezone.now())
    assert delivery_send(row.pk) == "sent"
    headers, body = hook.requests[-1]
    mac = hmac.new(b"s3cret", headers["X-IoT-Timestamp"].encode() + b"." + body, hashlib.sha256)
    assert headers["X-IoT-Signature"] == f"sha256={mac.hexdigest()}"
    assert headers["X-IoT-Delivery"] == row.key
    payload = json.loads(body)
    assert payload["event"] == "alarm.opened" and payload["tenant"] == "acme"
    assert payload["steps"][0]["alarm"] == activity.alarm_id
    assert payload["steps"][0]["device"] == {"id": device.pk, "name": device.name}


def test_the_slack_format_posts_a_text(tenant: Tenant, device: Any, hook: Hook) -> None:
    who = people(tenant)
    NotificationProfile.objects.create(
        tenant=tenant,
        user=who["operator"],
        email=False,
        webhook=True,
        webhook_url=hook.url,
        webhook_format="slack",
    )
    raise_alarm(hot_rule(tenant, device), device)
    assert delivery_send(NotificationDelivery.objects.get(channel="webhook").pk) == "sent"
    headers, body = hook.requests[-1]
    assert "X-IoT-Signature" not in headers  # no secret, no signature
    text = json.loads(body)["text"]
    assert text.startswith(f"[CRITICAL] hot pump critical on {device.name}: opened")


def test_an_unreachable_smtp_server_is_retried_with_backoff_until_it_answers(
    tenant: Tenant, device: Any, tmp_path: Path, settings: Any
) -> None:
    people(tenant)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", servers.free_port()
    settings.ALERTS_DELIVERY_ATTEMPTS = 3
    raise_alarm(hot_rule(tenant, device), device)
    row = deliveries()[0]
    waits = []
    for attempt in (1, 2):
        assert delivery_send(row.pk) == "retrying"
        row.refresh_from_db()
        assert row.attempts == attempt and row.reason.startswith("SMTP server unreachable")
        waits.append(round((row.due_at - timezone.now()).total_seconds()))
        assert delivery_send(row.pk) == "not due"  # its time has not come
        NotificationDelivery.objects.filter(pk=row.pk).update(due_at=timezone.now())
    assert waits == [10, 20]  # doubled
    with servers.mail_sink(tmp_path / "mail") as port:
        settings.EMAIL_PORT = port
        assert delivery_send(row.pk) == "sent"
        assert len(inbox(tmp_path / "mail")) == 1
    row.refresh_from_db()
    assert (row.attempts, row.reason) == (3, "")
    other = deliveries()[1]
    for _ in range(3):
        NotificationDelivery.objects.filter(pk=other.pk).update(due_at=timezone.now())
        delivery_send(other.pk)
    other.refresh_from_db()
    assert (other.status, other.attempts) == ("failed", 3)  # out of attempts


def test_a_storm_sends_the_first_alarms_and_gathers_the_rest_into_one_digest(
    tenant: Tenant, smtp: Path, settings: Any
) -> None:
    settings.ALERTS_STORM_LIMIT = 3
    who = people(tenant)
    NotificationProfile.objects.create(tenant=tenant, user=who["admin"], email=False)
    pumps = [factories.make_device(tenant, name=f"Pump {n}") for n in range(7)]
    rule = hot_rule(tenant, pumps[0])
    opened = [raise_alarm(rule, pump) for pump in pumps]
    single = deliveries(activity__isnull=False)
    assert [r.activity for r in single] == opened[:3]
    [digest] = deliveries(activity__isnull=True)
    assert (digest.status, digest.user) == ("collecting", who["operator"])
    assert digest.activity_ids == [a.pk for a in opened[3:]]
    assert timedelta(seconds=55) < digest.due_at - timezone.now() <= timedelta(seconds=60)
    assert delivery_send(digest.pk) == "not due"  # still gathering
    NotificationDelivery.objects.filter(pk=digest.pk).update(due_at=timezone.now())
    assert deliveries_sweep()["requeued"] >= 1
    assert delivery_send(digest.pk) == "sent"
    _send_all()
    mail = inbox(smtp)
    assert len(mail) == 4  # three alarms, then one digest instead of four messages
    [summary] = [m for m in mail if "alarm changes" in str(m["Subject"])]
    assert summary["Subject"] == "[CRITICAL] 4 alarm changes at Acme Plant"
    assert all(f"on Pump {n}: opened" in text_of(summary) for n in range(3, 7))
    assert "on Pump 0:" not in text_of(summary)
    raise_alarm(rule, factories.make_device(tenant, name="Pump 7"))  # the storm goes on
    assert NotificationDelivery.objects.get(status="collecting").activity_ids != digest.activity_ids


def test_the_sweep_resends_a_dead_senders_claim_and_never_a_handed_over_one(
    tenant: Tenant, device: Any
) -> None:
    people(tenant)
    raise_alarm(hot_rule(tenant, device), device)
    claimed, handed = deliveries()
    past = timezone.now() - timedelta(seconds=1)
    NotificationDelivery.objects.filter(pk=claimed.pk).update(status="sending", lease_until=past)
    NotificationDelivery.objects.filter(pk=handed.pk).update(status="committed", lease_until=past)
    assert deliveries_sweep() == {"requeued": 1, "unconfirmed": 1}
    handed.refresh_from_db()
    assert handed.status == "unconfirmed" and "not resent" in handed.reason
    assert delivery_send(handed.pk) == "not due"


def test_an_email_never_names_another_tenants_device(
    tenant: Tenant, other_tenant: Tenant, device: Any, other_device: Any, smtp: Path
) -> None:
    people(tenant)
    people(other_tenant)
    raise_alarm(hot_rule(tenant, device), device)
    raise_alarm(hot_rule(other_tenant, other_device), other_device)
    assert _send_all() == ["sent"] * 4
    for message in inbox(smtp):
        ours = str(message["To"]).endswith("@acme.example")
        mine, theirs = (device, other_device) if ours else (other_device, device)
        body = text_of(message) + html_of(message) + str(message["Subject"])
        assert mine.name in body and theirs.name not in body
        assert ("Acme Plant" in body) == ours and ("Globex Foundry" in body) != ours
