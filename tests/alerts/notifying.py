"""Helpers of the notification tests: a tenant whose people have email addresses, a rule and
its alarms, the SMTP sink's inbox."""

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from django.utils import timezone

from alerts import alarms, rules
from alerts.models import AlarmActivity, AlertRule, NotificationDelivery
from alerts.notify import recipients_install_defaults
from devices.models import Device
from iotplatform.tenancy.models import Role, Tenant

from .. import factories


def people(tenant: Tenant) -> dict[str, Any]:
    """An admin, an operator and a viewer with email addresses; the default recipients."""
    recipients_install_defaults(tenant=tenant)
    out: dict[str, Any] = {}
    for role in (Role.ADMIN, Role.OPERATOR, Role.VIEWER):
        user = factories.make_user(tenant, role, f"{role}-{tenant.slug}")
        user.email = f"{role}@{tenant.slug}.example"
        user.save(update_fields=["email"])
        out[role] = user
    return out


def hot_rule(tenant: Tenant, device: Device, severity: str = "critical") -> AlertRule:
    return rules.rule_create(
        tenant=tenant,
        name=f"hot {device.type.name} {severity}",
        device_type=device.type,
        kind="threshold",
        metric="temperature",
        threshold=85.0,
        severity=severity,
        cooldown_seconds=0,
    )


def raise_alarm(rule: AlertRule, device: Device, value: float = 91.5) -> AlarmActivity:
    raised = alarms.alarm_raise(rule=rule, device=device, value=value, at=timezone.now())
    return raised.alarm.activity.order_by("-pk").first()  # type: ignore[return-value]


def deliveries(**filters: Any) -> list[NotificationDelivery]:
    return list(NotificationDelivery.objects.filter(**filters).order_by("pk"))


def inbox(box: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(box.glob("*.eml"))
    ]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())
