"""The alarm lifecycle: raised by the platform (one active alarm per device and rule, however
many processes raise it at once), acknowledged, cleared, closed and commented on by people.
Every change is an ``AlarmActivity`` row and a live ``alarm`` event once committed."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from devices.models import Device
from iotplatform.live import AlarmData, Event, publish_on_commit

from .models import ACTIVE, Alarm, AlarmAction, AlarmActivity, AlarmStatus, AlertRule
from .notify import notify_plan

MAX_COMMENT = 2000


class AlarmStateError(Exception):
    """The step asked for does not follow from the alarm's state (the message says why)."""


@dataclass
class Raised:
    """What raising did: ``opened`` a new alarm, ``reopened`` one cleared within the rule's
    cooldown, or ``repeated`` the active one (its count, last value and time)."""

    alarm: Alarm
    action: str


UPSERT = """
INSERT INTO alerts_alarm (tenant_id, rule_id, device_id, severity, status, message, occurrences,
                          first_value, last_value, opened_at, last_seen_at)
VALUES (%(tenant)s, %(rule)s, %(device)s, %(severity)s, 'open', %(message)s, 1,
        %(value)s, %(value)s, %(at)s, %(at)s)
ON CONFLICT (device_id, rule_id) WHERE status IN ('open', 'acknowledged')
DO UPDATE SET occurrences = alerts_alarm.occurrences + 1,
              last_value = EXCLUDED.last_value,
              last_seen_at = GREATEST(alerts_alarm.last_seen_at, EXCLUDED.last_seen_at),
              severity = EXCLUDED.severity,
              message = EXCLUDED.message
RETURNING id, (xmax = 0)
"""


def alarm_raise(
    *, rule: AlertRule, device: Device, value: float | None, at: datetime, message: str = ""
) -> Raised:
    """The device is in trouble by ``rule`` at ``at``: its active alarm repeated, or the one
    cleared within the rule's cooldown reopened, or a new one opened. Safe under concurrency:
    the partial unique index on active alarms decides, not a read before the write."""
    with transaction.atomic():
        reopened = _reopen(rule, device, value, at, message)
        if reopened is not None:
            raised = Raised(reopened, AlarmAction.REOPENED)
        else:
            with connection.cursor() as cursor:
                cursor.execute(
                    UPSERT,
                    {
                        "tenant": rule.tenant_id,
                        "rule": rule.pk,
                        "device": device.pk,
                        "severity": rule.severity,
                        "message": message[:300],
                        "value": value,
                        "at": at,
                    },
                )
                alarm_id, inserted = cursor.fetchone()
            alarm = Alarm.objects.get(pk=alarm_id)
            raised = Raised(alarm, AlarmAction.OPENED if inserted else "repeated")
            if inserted:
                _activity(alarm, AlarmAction.OPENED, at=at, value=value, text=message)
        _announce(raised.alarm, raised.action, at, device=device, rule=rule)
    return raised


def alarm_touch(
    *, rule: AlertRule, device: Device, value: float | None, at: datetime
) -> Alarm | None:
    """The active alarm of (device, rule) still holds: its last value and time (not a new
    occurrence: those count openings). None: no active alarm (nothing to touch)."""
    with transaction.atomic():
        active = Alarm.objects.filter(device=device, rule=rule, status__in=ACTIVE)
        if not active.filter(last_seen_at__lt=at).update(last_value=value, last_seen_at=at):
            return None
        alarm = active.get()
        _announce(alarm, "updated", at, device=device, rule=rule)
    return alarm


def _reopen(
    rule: AlertRule, device: Device, value: float | None, at: datetime, message: str
) -> Alarm | None:
    """The alarm of (device, rule) cleared within the cooldown, open again; None: none."""
    if not rule.cooldown_seconds:
        return None
    recent = (
        Alarm.objects.filter(
            device=device,
            rule=rule,
            status=AlarmStatus.CLEARED,
            cleared_at__gte=at - timedelta(seconds=rule.cooldown_seconds),
        )
        .order_by("-cleared_at")
        .values_list("pk", flat=True)
        .first()
    )
    if recent is None:
        return None
    try:
        with transaction.atomic():  # a savepoint: another process may have opened one meanwhile
            changed = Alarm.objects.filter(pk=recent, status=AlarmStatus.CLEARED).update(
                status=AlarmStatus.OPEN,
                cleared_at=None,
                cleared_by=None,
                acknowledged_at=None,
                acknowledged_by=None,
                last_value=value,
                last_seen_at=at,
                severity=rule.severity,
                message=message[:300],
                occurrences=F("occurrences") + 1,
            )
    except IntegrityError:  # the unique index: an active one exists now, repeat it instead
        return None
    if not changed:
        return None
    alarm = Alarm.objects.get(pk=recent)
    _activity(alarm, AlarmAction.REOPENED, at=at, value=value, text=message)
    return alarm


def _activity(
    alarm: Alarm,
    action: str,
    *,
    at: datetime,
    actor: Any = None,
    value: float | None = None,
    text: str = "",
) -> AlarmActivity:
    activity = AlarmActivity.objects.create(
        tenant_id=alarm.tenant_id,
        alarm=alarm,
        at=at,
        actor=actor,
        action=action,
        text=text,
        value=value,
    )
    notify_plan(activity, severity=alarm.severity)
    return activity


def _announce(
    alarm: Alarm,
    action: str,
    at: datetime,
    *,
    device: Device | None = None,
    rule: AlertRule | None = None,
) -> None:
    device = device or alarm.device
    rule = rule or alarm.rule
    data: AlarmData = {
        "alarm": alarm.pk,
        "device": device.pk,
        "device_name": device.name,
        "rule": rule.pk,
        "rule_name": rule.name,
        "severity": alarm.severity,
        "status": alarm.status,
        "action": action,
        "occurrences": alarm.occurrences,
        "value": alarm.last_value,
        "at": at.isoformat(),
    }
    publish_on_commit(tenant_id=alarm.tenant_id, event=Event.ALARM, data=data)


def _step(alarm: Alarm, allowed: tuple[str, ...], verb: str) -> Alarm:
    """The alarm locked, when its state allows ``verb``; AlarmStateError naming why not."""
    locked = Alarm.objects.select_for_update().select_related("device", "rule").get(pk=alarm.pk)
    if locked.status not in allowed:
        raise AlarmStateError(f"The alarm is {locked.status}: it cannot be {verb}.")
    return locked


@transaction.atomic
def alarm_acknowledge(*, alarm: Alarm, by: Any, text: str = "") -> Alarm:
    """A person has seen an open alarm (it stays active until its condition clears)."""
    now = timezone.now()
    alarm = _step(alarm, (AlarmStatus.OPEN,), "acknowledged")
    alarm.status, alarm.acknowledged_at, alarm.acknowledged_by = AlarmStatus.ACKNOWLEDGED, now, by
    alarm.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    _activity(alarm, AlarmAction.ACKNOWLEDGED, at=now, actor=by, text=_comment(text, False))
    _announce(alarm, AlarmAction.ACKNOWLEDGED, now)
    return alarm


@transaction.atomic
def alarm_clear(
    *,
    alarm: Alarm,
    by: Any = None,
    value: float | None = None,
    at: datetime | None = None,
    text: str = "",
) -> Alarm:
    """The alarm's condition is over: cleared by the platform (``by`` None, past the rule's
    clear level) or by a person."""
    at = at or timezone.now()
    alarm = _step(alarm, tuple(ACTIVE), "cleared")
    alarm.status, alarm.cleared_at, alarm.cleared_by = AlarmStatus.CLEARED, at, by
    if value is not None:
        alarm.last_value = value
    alarm.save(update_fields=["status", "cleared_at", "cleared_by", "last_value"])
    _activity(alarm, AlarmAction.CLEARED, at=at, actor=by, value=value, text=_comment(text, False))
    _announce(alarm, AlarmAction.CLEARED, at)
    return alarm


@transaction.atomic
def alarm_close(*, alarm: Alarm, by: Any, text: str = "") -> Alarm:
    """Done with: an alarm is closed by a person, and cleared with it if it was still active."""
    now = timezone.now()
    alarm = _step(alarm, (*ACTIVE, AlarmStatus.CLEARED), "closed")
    if alarm.status in ACTIVE:
        alarm.cleared_at, alarm.cleared_by = now, by
    alarm.status, alarm.closed_at, alarm.closed_by = AlarmStatus.CLOSED, now, by
    alarm.save(update_fields=["status", "cleared_at", "cleared_by", "closed_at", "closed_by"])
    _activity(alarm, AlarmAction.CLOSED, at=now, actor=by, text=_comment(text, False))
    _announce(alarm, AlarmAction.CLOSED, now)
    return alarm


def _comment(text: str, required: bool) -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationError({"text": "A comment needs some text."})
    if len(text) > MAX_COMMENT:
        raise ValidationError({"text": f"A comment is at most {MAX_COMMENT} characters."})
    return text


@transaction.atomic
def alarm_comment(*, alarm: Alarm, by: Any, text: str) -> AlarmActivity:
    """A person's note on an alarm, in any state."""
    return _activity(
        alarm, AlarmAction.COMMENTED, at=timezone.now(), actor=by, text=_comment(text, True)
    )
