"""The rule evaluator: the readings the ingest processes hand over (``alerts.ingest``), read
from the Redis stream with a consumer group, run through each watching threshold, rate or
z-score rule
(``conditions.evaluate``), the alarms raised, updated and cleared (``alarms``).

What is kept of each (device, rule) between batches — the last reading seen, since when the
condition holds, whether its alarm is active, a rate's window — lives in Redis beside the stream
(``ALERTS_STATE_PREFIX``), so a restarted evaluator goes on where it stopped. An entry is
acknowledged once its steps are stored; one a dead evaluator left unacknowledged is claimed after
``CLAIM_IDLE_MS`` and evaluated again (its readings are then seen already: nothing twice; at most
an alarm's update or a clear already done again, which change nothing). Where Redis went away
after an alarm opened but before the state was stored (a restart), the readings come again with
the old state: the opening is found recorded at that reading's time and not made twice, and a
clear leaves an alarm (re)opened after it alone. One evaluator process at
a time (``manage.py alerts_evaluate``, started by ``make run``): two would race on a rule's state.
"""

import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings

from devices.models import Device

from . import alarms
from .conditions import Condition, State, Step, evaluate
from .ingest import rows_of
from .models import ACTIVE, Alarm, AlarmAction, AlarmActivity, AlertRule, ConditionKind

logger = logging.getLogger(__name__)

GROUP = "evaluators"
CLAIM_IDLE_MS = 60_000  # an entry another evaluator took this long ago without acknowledging
BATCH_ENTRIES = 100
STREAM_KINDS = (ConditionKind.THRESHOLD, ConditionKind.RATE, ConditionKind.ZSCORE)


@dataclass
class RuleIndex:
    """The enabled rules the stream feeds, by what they watch: (tenant, device type, metric)
    and (device, metric); read again every ``ALERTS_RULES_REFRESH`` seconds."""

    by_type: dict[tuple[int, int, str], list[AlertRule]] = field(default_factory=dict)
    by_device: dict[tuple[int, str], list[AlertRule]] = field(default_factory=dict)
    loaded_at: float = float("-inf")

    @classmethod
    def load(cls) -> "RuleIndex":
        index = cls(loaded_at=time.monotonic())
        rules = (
            AlertRule.objects.filter(enabled=True, kind__in=STREAM_KINDS)
            .exclude(metric="")
            .select_related("device_type", "device__type")
        )
        for rule in rules:
            if rule.device_id is not None:
                index.by_device.setdefault((rule.device_id, rule.metric), []).append(rule)
            elif rule.device_type_id is not None:
                key = (rule.tenant_id, rule.device_type_id, rule.metric)
                index.by_type.setdefault(key, []).append(rule)
        return index

    def rules_for(self, device: Device, metric: str) -> list[AlertRule]:
        found = self.by_type.get((device.tenant_id, device.type_id, metric), [])
        found = found + self.by_device.get((device.id, metric), [])
        return [r for r in found if r.tenant_id == device.tenant_id]


KINDS: dict[str, Any] = {ConditionKind.RATE: "rate", ConditionKind.ZSCORE: "zscore"}


def condition_of(rule: AlertRule) -> Condition:
    device_type = rule.device.type if rule.device is not None else rule.device_type
    return Condition(
        kind=KINDS.get(rule.kind, "threshold"),
        direction="below" if rule.direction == "below" else "above",
        threshold=float(rule.threshold or 0.0),
        clear_threshold=rule.clear_threshold,
        duration_seconds=float(rule.duration_seconds),
        window_seconds=float(rule.window_seconds),
        window_count=device_type.zscore_window if device_type is not None else 20,
    )


def state_key(rule_id: int, device_id: int) -> str:
    return f"{settings.ALERTS_STATE_PREFIX}:{rule_id}:{device_id}"


def _state(raw: bytes | None) -> State:
    if not raw:
        return State()
    data = json.loads(raw)
    return State(
        seen=data["seen"],
        since=data["since"],
        active=data["active"],
        window=[(float(t), float(v)) for t, v in data["window"]],
    )


def _message(rule: AlertRule, step: Step) -> str:
    what = f"{rule.metric} {step.value:g}"
    if rule.kind == ConditionKind.ZSCORE:
        return f"{rule.metric} z-score {step.value:+.1f} (beyond {rule.threshold:g})"
    if rule.kind == ConditionKind.RATE:
        change = "rose" if rule.direction == "above" else "dropped"
        return (
            f"{rule.metric} {change} by {step.value:g} within {rule.window_seconds} s "
            f"(more than {rule.threshold:g})"
        )
    return f"{what}, {rule.direction} {rule.threshold:g}"


def step_apply(rule: AlertRule, device: Device, step: Step) -> None:
    at = datetime.fromtimestamp(step.at, UTC)
    if step.action == "raise":
        if _raised(rule, device, at):
            return  # a replay: applied before, but Redis went away before its state was stored
        alarms.alarm_raise(
            rule=rule, device=device, value=step.value, at=at, message=_message(rule, step)
        )
    elif step.action == "update":
        alarms.alarm_touch(rule=rule, device=device, value=step.value, at=at)
    else:
        # One last seen after ``at`` was (re)opened after this reading: a replay's clear
        # (Redis went away before the state was stored) must leave it be.
        active = Alarm.objects.filter(device=device, rule=rule, status__in=ACTIVE)
        for alarm in active.filter(last_seen_at__lte=at):
            # a person may have cleared or closed it meanwhile
            with contextlib.suppress(alarms.AlarmStateError):
                alarms.alarm_clear(alarm=alarm, value=step.value, at=at)


def _raised(rule: AlertRule, device: Device, at: datetime) -> bool:
    """Whether the rule already opened (or reopened) the device's alarm at ``at``."""
    return AlarmActivity.objects.filter(
        tenant_id=rule.tenant_id,
        action__in=[AlarmAction.OPENED, AlarmAction.REOPENED],
        at=at,
        alarm__rule=rule,
        alarm__device=device,
    ).exists()


def rows_evaluate(
    rows: Iterable[tuple[int, int, int, str, float]], *, client: Any, index: RuleIndex
) -> int:
    """Evaluate readings (milliseconds, tenant, device, metric, value) against the rules that
    watch them, their states read from and stored to Redis; returns the steps applied."""
    points: dict[tuple[int, str], list[tuple[float, float]]] = defaultdict(list)
    tenants: dict[int, int] = {}
    for ms, tenant_id, device_id, metric, value in rows:
        points[(device_id, metric)].append((ms / 1000.0, value))
        tenants[device_id] = tenant_id
    devices = Device.objects.in_bulk(list(tenants))
    pairs: list[tuple[AlertRule, Device, list[tuple[float, float]]]] = []
    for (device_id, metric), own in points.items():
        device = devices.get(device_id)
        if device is None or device.tenant_id != tenants[device_id]:
            continue  # deleted meanwhile, or not the tenant its token said: nothing to judge
        pairs += [(rule, device, own) for rule in index.rules_for(device, metric)]
    if not pairs:
        return 0
    keys = [state_key(rule.pk, device.pk) for rule, device, _ in pairs]
    states = [_state(raw) for raw in client.mget(keys)]
    applied = 0
    stored = {}
    for (rule, device, own), key, state in zip(pairs, keys, states, strict=True):
        for step in evaluate(condition_of(rule), state, own):
            step_apply(rule, device, step)
            applied += 1
        stored[key] = json.dumps(asdict(state))
    client.mset(stored)
    return applied


class Evaluator:
    """A consumer of the stream's group: ``step`` evaluates what is there (its own entries left
    unacknowledged first, then those others abandoned, then new ones) and acknowledges it."""

    def __init__(self, client: Any, consumer: str) -> None:
        self.client = client
        self.consumer = consumer
        self.key = settings.ALERTS_STREAM_KEY
        self.index = RuleIndex()
        self.group_ensure()

    def group_ensure(self) -> None:
        try:
            self.client.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def step(self, block_ms: int | None = None) -> int:
        """Evaluate one round of entries; returns how many readings it evaluated."""
        try:
            return self._step(block_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.group_ensure()  # the stream was deleted (with its group): start afresh
            return 0

    def _step(self, block_ms: int | None) -> int:
        if time.monotonic() - self.index.loaded_at > settings.ALERTS_RULES_REFRESH:
            self.index = RuleIndex.load()
        mine = self.client.xreadgroup(GROUP, self.consumer, {self.key: "0"}, count=BATCH_ENTRIES)
        entries = list(mine[0][1]) if mine else []
        claimed = self.client.xautoclaim(
            self.key, GROUP, self.consumer, min_idle_time=CLAIM_IDLE_MS, count=BATCH_ENTRIES
        )
        entries += list(claimed[1])
        if not entries:
            new = self.client.xreadgroup(
                GROUP, self.consumer, {self.key: ">"}, count=BATCH_ENTRIES, block=block_ms
            )
            entries = list(new[0][1]) if new else []
        rows = [row for _, fields in entries if fields for row in rows_of(fields)]
        if rows:
            rows_evaluate(rows, client=self.client, index=self.index)
        if entries:
            ids = [entry_id for entry_id, _ in entries]
            self.client.xack(self.key, GROUP, *ids)
            self.client.xdel(self.key, *ids)  # one group reads the stream: done with them
        return len(rows)

    def drain(self) -> int:
        """Evaluate until nothing is left (tests, ``--once``); returns the readings evaluated."""
        total = 0
        while True:
            done = self.step()
            total += done
            if not done and not self.client.xpending(self.key, GROUP)["pending"]:
                return total
