"""Command services: operators issue, devices fetch (RPC) and answer, unanswered ones expire.

Kept apart from ``services.py`` for size; the same rules apply (writes here, thin callers).
A ``set_config`` command updates the device's desired configuration at once; the configuration
the device acknowledges becomes its reported configuration (the digital twin's two halves).
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from iotplatform.live import Event, publish_on_commit

from .models import Command, CommandKind, CommandStatus, Device

DEFAULT_TTL = timedelta(minutes=5)
# A command handed to a device is handed out again if the device has not answered it within
# this time: the connection that carried it may have dropped (a long poll cut by a proxy or a
# cellular hand-over) and the device never saw it. Devices recognise a repeat by its id.
REDELIVER_AFTER = timedelta(seconds=15)
THRESHOLD_KEYS = ("warn_low", "warn_high", "alarm_low", "alarm_high")


# Faults the simulator's devices take on when told: wear that brings a failure near, or a
# one-off anomaly on a metric for some minutes.
WEAR_FAULTS = ("bearing", "overheating", "seal_leak", "battery_fade")
ANOMALY_FAULTS = ("spike", "drift", "stuck")


def fault_validate(device: Device, payload: Any) -> dict[str, Any]:
    """A ``simulate`` command's payload: {fault, metric (an anomaly's; default its type's
    first), minutes (an anomaly's, 1 to 1440; default 30)}."""
    if not isinstance(payload, dict):
        raise ValidationError({"payload": "An object: {fault, metric, minutes}."})
    fault = payload.get("fault")
    if fault not in WEAR_FAULTS + ANOMALY_FAULTS:
        raise ValidationError(
            {"payload": f"fault: one of {', '.join(WEAR_FAULTS + ANOMALY_FAULTS)}."}
        )
    unknown = set(payload) - {"fault", "metric", "minutes"}
    if unknown:
        raise ValidationError({"payload": f"Unknown field {sorted(unknown)[0]!r}."})
    out: dict[str, Any] = {"fault": fault}
    if fault in ANOMALY_FAULTS:
        metrics = list(device.type.metrics)
        metric = payload.get("metric") or (metrics[0] if metrics else None)
        if metric not in metrics:
            raise ValidationError({"payload": f"metric: one of the type's {metrics}."})
        minutes = payload.get("minutes", 30)
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 1440:
            raise ValidationError({"payload": "minutes: a whole number from 1 to 1440."})
        out.update(metric=metric, minutes=minutes)
    elif "metric" in payload or "minutes" in payload:
        raise ValidationError({"payload": "A wear fault takes no metric or minutes."})
    return out


def config_validate(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or not payload:
        raise ValidationError({"payload": "set_config needs interval_seconds and/or thresholds."})
    unknown = set(payload) - {"interval_seconds", "thresholds"}
    if unknown:
        raise ValidationError({"payload": f"Unknown setting {sorted(unknown)[0]!r}."})
    interval = payload.get("interval_seconds")
    if interval is not None and (
        isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= 86_400
    ):
        raise ValidationError({"payload": "interval_seconds: a whole number from 1 to 86400."})
    thresholds = payload.get("thresholds", {})
    if not isinstance(thresholds, dict):
        raise ValidationError({"payload": "thresholds: metric → {warn_high: …, …}."})
    for metric, limits in thresholds.items():
        if not isinstance(limits, dict) or set(limits) - set(THRESHOLD_KEYS):
            raise ValidationError({"payload": f"thresholds.{metric}: keys {THRESHOLD_KEYS}."})
        for key, value in limits.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationError({"payload": f"thresholds.{metric}.{key}: a number."})
        low = limits.get("warn_low", limits.get("alarm_low"))
        high = limits.get("warn_high", limits.get("alarm_high"))
        if low is not None and high is not None and low >= high:
            raise ValidationError({"payload": f"thresholds.{metric}: low must be below high."})
    return payload


def thresholds_check(
    *, device: Device, payload: dict[str, Any], reported_metrics: Iterable[str] = ()
) -> None:
    """ValidationError when a ``set_config`` payload sets thresholds for a metric the device
    does not have (its type's, those it already has thresholds for, ``reported_metrics``)."""
    known = (
        set(device.type.metrics)
        | set(device.desired_config.get("thresholds", {}))
        | set(reported_metrics)
    )
    unknown = sorted(set(payload.get("thresholds", {})) - known)
    if unknown:
        raise ValidationError(
            {"payload": f"thresholds.{unknown[0]}: the device has no metric {unknown[0]!r}."}
        )


def _publish(command: Command) -> None:
    publish_on_commit(
        tenant_id=command.tenant_id,
        event=Event.COMMAND_STATUS,
        data={
            "command": command.id,
            "device": command.device_id,
            "kind": command.kind,
            "status": command.status,
        },
    )


@transaction.atomic
def command_issue(
    *,
    device: Device,
    kind: str,
    payload: dict[str, Any] | None = None,
    by: Any = None,
    ttl: timedelta = DEFAULT_TTL,
    reported_metrics: Iterable[str] = (),
) -> Command:
    """Queue a command for the device; it expires unanswered after ``ttl``.

    Thresholds may be set only for metrics the device has: its type's, those it already has
    thresholds for, and ``reported_metrics`` (what it has sent, which the caller knows from
    telemetry)."""
    if kind not in CommandKind.values:
        raise ValidationError({"kind": f"Unknown command {kind!r}; one of {CommandKind.values}."})
    payload = payload or {}
    if kind == CommandKind.SET_CONFIG:
        payload = config_validate(payload)
        thresholds_check(device=device, payload=payload, reported_metrics=reported_metrics)
        device.desired_config = {**device.desired_config, **payload}
        device.save(update_fields=["desired_config"])
    elif kind == CommandKind.SIMULATE:
        payload = fault_validate(device, payload)
    elif payload:
        raise ValidationError({"payload": "restart takes no payload."})
    command = Command.objects.create(
        tenant_id=device.tenant_id,
        device=device,
        kind=kind,
        payload=payload,
        created_by=by if getattr(by, "is_authenticated", False) else None,
        expires_at=timezone.now() + ttl,
    )
    _publish(command)
    return command


@transaction.atomic
def command_fetch(*, device_id: int, now: datetime | None = None) -> Command | None:
    """The device's oldest command still to deliver, marked sent; None when there is none.

    Delivered until answered: a command sent more than :data:`REDELIVER_AFTER` ago and still
    unanswered (or expired) is delivered again."""
    now = now or timezone.now()
    command = (
        Command.objects.select_for_update(skip_locked=True)
        .filter(
            Q(status=CommandStatus.PENDING)
            | Q(status=CommandStatus.SENT, sent_at__lte=now - REDELIVER_AFTER),
            device_id=device_id,
            expires_at__gt=now,
        )
        .order_by("created_at", "id")
        .first()
    )
    if command is None:
        return None
    command.status = CommandStatus.SENT
    command.sent_at = now
    command.save(update_fields=["status", "sent_at"])
    _publish(command)
    return command


def answer_validate(command: Command, response: Any) -> None:
    """A device's answer must be a JSON object; a set_config answer's ``config`` (the
    configuration the device now runs) must be one the platform could have sent. A refused
    answer leaves the command open for a correct one."""
    if not isinstance(response, dict):
        raise ValidationError({"response": "an RPC answer is a JSON object"})
    if response.get("error"):
        return
    reported = response.get("config")
    if command.kind == CommandKind.SET_CONFIG and reported is not None:
        try:
            config_validate(reported)
        except ValidationError as exc:
            raise ValidationError(
                {"config": f"the configuration the device reports: {exc.messages[0]}"}
            ) from None


@transaction.atomic
def command_answer(*, device_id: int, command_id: int, response: Any) -> Command | None:
    """Record the device's answer: acked, or failed when it carries an ``error``. None when the
    command is not this device's (or is over); ValidationError when the answer is malformed
    (the command stays open)."""
    command = (
        Command.objects.select_for_update()
        .filter(
            pk=command_id,
            device_id=device_id,
            status__in=[CommandStatus.PENDING, CommandStatus.SENT],
        )
        .select_related("device")
        .first()
    )
    if command is None:
        return None
    answer_validate(command, response)
    failed = bool(response.get("error"))
    command.status = CommandStatus.FAILED if failed else CommandStatus.ACKED
    command.answered_at = timezone.now()
    command.response = response
    command.save(update_fields=["status", "answered_at", "response"])
    if command.kind == CommandKind.SET_CONFIG and not failed:
        device = command.device
        reported = response.get("config")
        device.reported_config = {
            **device.reported_config,
            **(reported if isinstance(reported, dict) else command.payload),
        }
        device.save(update_fields=["reported_config"])
    _publish(command)
    return command


def commands_expire(*, now: datetime | None = None) -> int:
    """Commands nobody answered in time become expired; each change is published."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(
            Command.objects.select_for_update(skip_locked=True).filter(
                status__in=[CommandStatus.PENDING, CommandStatus.SENT], expires_at__lte=now
            )
        )
        for command in expired:
            command.status = CommandStatus.EXPIRED
            _publish(command)
        Command.objects.bulk_update(expired, ["status"])
    return len(expired)
