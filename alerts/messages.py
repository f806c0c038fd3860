"""What a delivery says: the alarm step (or a storm's steps) as an email (subject, text, HTML),
a text message and a webhook payload. Everything comes from the delivery's own tenant: the
activities are read through it, so a message can never name another tenant's device."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.template.loader import render_to_string

from .models import RANK, AlarmActivity, NotificationDelivery

SMS_LIMIT = 320  # two concatenated segments


@dataclass
class Step:
    """One alarm step as messages tell it."""

    alarm: int
    action: str
    at: datetime
    local_at: str
    severity: str
    rule: str
    device: str
    device_id: int
    value: float | None
    text: str
    link: str

    def line(self) -> str:
        value = "" if self.value is None else f" (value {self.value:g})"
        return (
            f"[{self.severity.upper()}] {self.rule} on {self.device}: {self.action} "
            f"{self.local_at}{value}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "alarm": self.alarm,
            "action": self.action,
            "at": self.at.isoformat(),
            "severity": self.severity,
            "rule": self.rule,
            "device": {"id": self.device_id, "name": self.device},
            "value": self.value,
            "link": self.link,
        }


@dataclass
class Message:
    tenant: str
    tenant_slug: str
    steps: list[Step]
    digest: bool
    key: str
    subject: str = ""
    text: str = ""
    html: str = ""
    short: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


def alarm_link(alarm_id: int) -> str:
    return f"{settings.PUBLIC_URL.rstrip('/')}/alerts/?alarm={alarm_id}"


def message_for(delivery: NotificationDelivery) -> Message:
    ids = [delivery.activity_id] if delivery.activity_id else list(delivery.activity_ids)
    activities = (
        AlarmActivity.objects.filter(tenant_id=delivery.tenant_id, pk__in=ids)
        .select_related("alarm__rule", "alarm__device", "tenant")
        .order_by("at", "pk")
    )
    tenant = delivery.tenant
    tz = ZoneInfo(tenant.timezone)
    steps = [
        Step(
            alarm=a.alarm_id,
            action=a.action,
            at=a.at,
            local_at=f"{a.at.astimezone(tz):%Y-%m-%d %H:%M:%S %Z}",
            severity=a.alarm.severity,
            rule=a.alarm.rule.name,
            device=a.alarm.device.name,
            device_id=a.alarm.device_id,
            value=a.value,
            text=a.text,
            link=alarm_link(a.alarm_id),
        )
        for a in activities
    ]
    msg = Message(tenant.name, tenant.slug, steps, delivery.digest, delivery.key)
    context = {"m": msg, "alerts_url": f"{settings.PUBLIC_URL.rstrip('/')}/alerts/"}
    if msg.digest:
        worst = min((s.severity for s in steps), key=RANK.__getitem__, default="info")
        msg.subject = f"[{worst.upper()}] {len(steps)} alarm changes at {tenant.name}"
        msg.short = f"IoT Platform: {len(steps)} alarm changes at {tenant.name}. " + "; ".join(
            f"{s.rule} on {s.device}" for s in steps
        )
    else:
        s = steps[0]
        msg.subject = f"[{s.severity.upper()}] {s.rule} on {s.device}: {s.action}"
        msg.short = f"IoT Platform {s.line()} {s.link}"
    if len(msg.short) > SMS_LIMIT:
        msg.short = msg.short[: SMS_LIMIT - 1] + "…"
    msg.text = render_to_string("alerts/email/alarm.txt", context)
    msg.html = render_to_string("alerts/email/alarm.html", context)
    msg.payload = {
        "event": "alarms.digest" if msg.digest else f"alarm.{steps[0].action}",
        "delivery": delivery.key,
        "tenant": tenant.slug,
        "steps": [s.as_dict() for s in steps],
    }
    return msg
