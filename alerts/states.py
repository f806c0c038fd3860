"""Rules on what the platform knows of a device rather than on one reading: the device offline
(the offline sweep's status; a device that never reported does not count), in an anomaly spell
(the analytics cycle's status), its health or remaining useful life below a level, a warning
limit forecast to be crossed within some hours (the analytics cycle's scores and forecasts).
Beat evaluates them every few seconds over each enabled rule's devices
(``alerts.evaluate_states``): a condition that has held for the rule's duration opens the alarm,
one that is over — for health, RUL and forecasts past the rule's clear level — clears it. When
each (rule, device) began to hold is kept in Redis, so the duration survives restarts and any
worker may run the pass (one at a time, by a lock).
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.utils import timezone

from devices.models import Device, DeviceStatus
from iotplatform import redisplace

from .alarms import alarm_clear, alarm_raise
from .models import ACTIVE, Alarm, AlertRule, ConditionKind

STATE_KINDS = (
    ConditionKind.OFFLINE,
    ConditionKind.ANOMALY,
    ConditionKind.HEALTH_BELOW,
    ConditionKind.RUL_BELOW,
    ConditionKind.FORECAST_CROSSING,
)
LOCK_SECONDS = 60


@dataclass(frozen=True)
class Reading:
    """A rule's condition on one device now: whether it holds, whether it is over (past the
    clear level: in between, an active alarm stays), the value behind it and what to say."""

    holds: bool
    over: bool
    value: float | None
    message: str


def judge(rule: AlertRule, device: Device) -> Reading:
    kind = rule.kind
    if kind == ConditionKind.OFFLINE:
        # A device registered but never heard from is not "offline" in the operator's sense.
        off = device.status == DeviceStatus.OFFLINE and device.last_seen is not None
        return Reading(off, not off, None, f"{device.name} stopped reporting")
    if kind == ConditionKind.ANOMALY:
        odd = device.status == DeviceStatus.ANOMALY
        return Reading(odd, not odd, device.health, f"{device.name} behaves abnormally")
    if kind == ConditionKind.FORECAST_CROSSING:
        return _foreseen(rule, device)
    value = device.health if kind == ConditionKind.HEALTH_BELOW else device.rul_hours
    if value is None or rule.threshold is None:
        return Reading(False, False, None, "")  # no score yet: nothing to say either way
    level = rule.threshold
    clear = rule.clear_threshold if rule.clear_threshold is not None else level
    what = "health" if kind == ConditionKind.HEALTH_BELOW else "remaining useful life (h)"
    return Reading(value < level, value >= clear, value, f"{what} {value:.0f} below {level:g}")


def _foreseen(rule: AlertRule, device: Device) -> Reading:
    """A forecast crossing of a warning limit (of the rule's metric; none named: any) within
    the rule's hours holds; it is over once none is foreseen within the clear level's hours
    (none set: the rule's)."""
    crossing = device.forecast_crossing
    if rule.threshold is None:
        return Reading(False, False, None, "")
    if not crossing or (rule.metric and crossing.get("metric") != rule.metric):
        return Reading(False, True, None, "")
    hours = float(crossing["hours"])
    clear = rule.clear_threshold if rule.clear_threshold is not None else rule.threshold
    message = (
        f"{crossing['metric']} forecast to cross {crossing['limit']:g} "
        f"({crossing['direction']}) in {hours:.1f} h"
    )
    return Reading(hours <= rule.threshold, hours > clear, hours, message)


def _devices(rule: AlertRule, cache: dict[Any, list[Device]]) -> list[Device]:
    if rule.device_id is not None:
        key: Any = ("device", rule.device_id)
        if key not in cache:
            cache[key] = list(Device.objects.filter(pk=rule.device_id, tenant_id=rule.tenant_id))
    else:
        key = ("type", rule.device_type_id)
        if key not in cache:
            cache[key] = list(
                Device.objects.filter(tenant_id=rule.tenant_id, type_id=rule.device_type_id)
            )
    return cache[key]


def states_evaluate(
    *, client: redis.Redis, now: datetime | None = None, rules: Iterable[AlertRule] | None = None
) -> dict[str, int]:
    """One pass over the enabled state rules; the counts of alarms opened and cleared."""
    now = now or timezone.now()
    stamp = now.timestamp()
    counts = {"opened": 0, "cleared": 0}
    chosen = (
        rules
        if rules is not None
        else AlertRule.objects.filter(enabled=True, kind__in=STATE_KINDS).select_related("tenant")
    )
    cache: dict[Any, list[Device]] = {}
    for rule in chosen:
        key = f"{settings.ALERTS_STATE_PREFIX}:hold:{rule.pk}"
        since = {int(k): float(v) for k, v in client.hgetall(key).items()}
        active = {a.device_id: a for a in Alarm.objects.filter(rule=rule, status__in=ACTIVE)}
        started, ended = {}, []
        for device in _devices(rule, cache):
            reading = judge(rule, device)
            if reading.holds:
                begun = since.get(device.pk)
                if begun is None:
                    started[device.pk] = begun = stamp
                if device.pk not in active and stamp - begun >= rule.duration_seconds:
                    alarm_raise(
                        rule=rule,
                        device=device,
                        value=reading.value,
                        at=now,
                        message=reading.message,
                    )
                    counts["opened"] += 1
                continue
            if device.pk in since:
                ended.append(device.pk)
            alarm = active.get(device.pk)
            if alarm is not None and reading.over:
                alarm_clear(alarm=alarm, value=reading.value, at=now)
                counts["cleared"] += 1
        if started:
            client.hset(key, mapping={str(k): v for k, v in started.items()})
        if ended:
            client.hdel(key, *[str(k) for k in ended])
    return counts


def states_evaluate_locked() -> dict[str, int]:
    """The pass, unless another worker is running one."""
    client = redisplace.client()
    lock = f"{settings.ALERTS_STATE_PREFIX}:states-lock"
    token = str(time.time())
    if not client.set(lock, token, nx=True, ex=LOCK_SECONDS):
        return {"opened": 0, "cleared": 0, "skipped": 1}
    try:
        return states_evaluate(client=client)
    finally:
        if client.get(lock) == token.encode():
            client.delete(lock)
