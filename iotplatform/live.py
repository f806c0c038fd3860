"""The live vocabulary, in one place: event names, group names, the message envelope, the limits.

Everything that reaches a page over a WebSocket is a *live event*: a name from :class:`Event`
and a JSON object. Producers (services, the ingest pipeline) send it to a Channels group with
:func:`publish_on_commit` (Django code: only after the writing transaction commits),
:func:`publish` or :func:`publish_async`; the page consumers (``frontend.consumers``) batch the
events of one page and relay them; the pages' ``live.js`` hands each to its subscribers. The
pages get the names and limits as data (:func:`page_config`, rendered into every signed-in
page), so nothing here is repeated in JavaScript.

Groups: every event of a tenant goes to :func:`tenant_group`; a device's every reading goes to
:func:`device_group`, a sub-group its detail pages join. A message never goes to another
tenant's group (:func:`_check_group`). Every socket also joins its person's
:func:`user_group`, which carries no data, only *revoke* messages (:func:`revoke_on_commit`):
"look again whether this socket may stay open", sent when a person signs out, leaves a tenant,
changes role or is deactivated. A socket that may no longer stay closes with a
:class:`CloseCode`.
"""

import hashlib
import logging
import time
from enum import IntEnum, StrEnum
from typing import Any, NotRequired, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from redis import asyncio as aioredis

logger = logging.getLogger(__name__)

# The Channels message type consumers handle (Channels calls their ``live_event`` method).
MESSAGE_TYPE = "live.event"
# The Channels message type of a revoke (consumers handle it in ``live_revoke``).
REVOKE_MESSAGE_TYPE = "live.revoke"
# Per watched device and metric: points kept between two pushes, by ingestion and by a page.
MAX_POINTS_PER_METRIC = 3600
# Events of other kinds kept for one page frame (beyond that the oldest are dropped).
MAX_EVENTS_PER_FRAME = 500


class Event(StrEnum):
    """Every live event there is. ``data`` of each is described by the TypedDict named beside."""

    TELEMETRY = "telemetry"  # TelemetryData: the tenant's newest value per device and metric
    DEVICE_TELEMETRY = "device.telemetry"  # DeviceTelemetryData: every point of one device
    DEVICE_STATUS = "device.status"  # DeviceStatusData
    COMMAND_STATUS = "command.status"  # CommandStatusData
    SIMULATION_STATUS = "simulation.status"  # SimulationStatusData
    DEVICE_SCORES = "device.scores"  # DeviceScoresData: a scoring minute's health, RUL, anomaly
    ANOMALY = "anomaly.spell"  # AnomalyData: an anomaly spell opened or ended
    TRAINING = "training"  # TrainingData: a retrain's progress and outcome
    ALARM = "alarm"  # AlarmData: an alarm opened, repeated, acknowledged, cleared or closed


class CloseCode(IntEnum):
    """Why the server closed a page's socket; a page does not reconnect after these."""

    SIGNED_OUT = 4401  # the session ended (sign-out, expiry, new password) or the user is inactive
    FORBIDDEN = 4403  # no longer a member of the socket's tenant, or the role falls short
    NOT_FOUND = 4404  # (at connect) the page's object is missing or another tenant's


# A point on the wire: [milliseconds since the epoch, value].
Point = list[Any]


class TelemetryData(TypedDict):
    devices: dict[str, dict[str, Point]]  # device id (as a string) → metric → newest point


class DeviceTelemetryData(TypedDict):
    device: int
    points: dict[str, list[Point]]  # metric → points, oldest first


# "from" is a Python keyword, so this one is written with the functional syntax.
DeviceStatusData = TypedDict(
    "DeviceStatusData",
    {"device": int, "name": str, "from": str, "to": str, "at": str, "reason": str},
)


class CommandStatusData(TypedDict):
    command: int
    device: int
    kind: str
    status: str


class SimulationStatusData(TypedDict):
    desired: str
    status: str
    devices: int
    stats: dict[str, Any]


class DeviceScore(TypedDict):
    health: float | None  # 0-100
    rul_hours: float | None
    rul_low: float | None
    rul_high: float | None
    anomaly: float | None  # the larger of the multivariate and residual scores (1.0: the limit)
    flagged: bool
    # residual, stuck, threshold and rolling z-score flags: [{detector, metric, value, score}]
    flags: list[dict[str, Any]]
    # the soonest forecast crossing of a warning limit within 3 h, in the minutes the device is
    # forecast (every 10 minutes, staggered; absent in the others):
    # {metric, limit, direction, hours, earliest_hours}, or None when none is forecast
    crossing: NotRequired[dict[str, Any] | None]


class DeviceScoresData(TypedDict):
    minute: str  # ISO-8601, the minute scored
    devices: dict[str, DeviceScore]  # device id (as a string) → its scores


class AnomalyData(TypedDict):
    event: int
    device: int
    name: str
    state: str  # "opened" or "ended"
    at: str
    detector: str  # the detector that opened it
    started_at: str
    score: float
    drivers: list[dict[str, Any]]  # [{metric, share, value}], largest share first


class TrainingData(TypedDict):
    run: int
    device_type: str
    status: str
    progress: float  # 0 to 1
    step: str
    results: dict[str, Any]


class AlarmData(TypedDict):
    alarm: int
    device: int
    device_name: str
    rule: int
    rule_name: str
    severity: str
    status: str  # open, acknowledged, cleared, closed
    action: str  # what just happened: opened, repeated, reopened, acknowledged, cleared, …
    occurrences: int
    value: float | None  # the last value
    at: str  # ISO-8601, when it happened


class Message(TypedDict):
    """The envelope sent to a group."""

    type: str  # always MESSAGE_TYPE
    event: str
    data: Any


def tenant_group(tenant_id: int) -> str:
    """The Channels group every live event of a tenant goes to."""
    return f"tenant.{tenant_id}"


def device_group(tenant_id: int, device_id: int) -> str:
    """A device's group within its tenant's: every reading of it, for its open detail pages."""
    return f"{tenant_group(tenant_id)}.device.{device_id}"


def user_group(user_id: int) -> str:
    """The group of one person's every socket, whatever the tenant: revoke messages only."""
    return f"user.{user_id}"


def session_tag(session_key: str) -> str:
    """A session's name in revoke messages: its key's hash, so keys never travel through Redis."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


class RevokeMessage(TypedDict):
    type: str  # always REVOKE_MESSAGE_TYPE
    session: str | None  # a session_tag: only that session's sockets close, without a re-check


def revoke(*, user_id: int, session_key: str | None = None) -> None:
    """Tell a person's open sockets to re-check their access now.

    With ``session_key`` (a sign-out) only the sockets of that session react, and close at once;
    the person's other sessions keep theirs. Best effort like :func:`publish`: the sockets'
    periodic re-check (``LIVE_ACCESS_RECHECK_SECONDS``) catches a lost message.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    revoke_message: RevokeMessage = {
        "type": REVOKE_MESSAGE_TYPE,
        "session": session_tag(session_key) if session_key else None,
    }
    try:
        async_to_sync(layer.group_send)(user_group(user_id), revoke_message)
    except Exception:
        logger.exception("revoke for user %s failed", user_id)


def revoke_on_commit(*, user_id: int, session_key: str | None = None) -> None:
    """:func:`revoke` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: revoke(user_id=user_id, session_key=session_key))


def message(event: Event, data: Any) -> Message:
    return {"type": MESSAGE_TYPE, "event": event.value, "data": data}


def device_status_data(
    *, device_id: int, name: str, previous: str, status: str, at: str, reason: str
) -> DeviceStatusData:
    return {
        "device": device_id,
        "name": name,
        "from": previous,
        "to": status,
        "at": at,
        "reason": reason,
    }


def page_config() -> dict[str, Any]:
    """What a page's ``live.js`` needs to know: event names and limits (rendered as JSON)."""
    return {
        "events": {event.name: event.value for event in Event},
        "maxPointsPerMetric": MAX_POINTS_PER_METRIC,
        "pageIntervalMs": int(settings.LIVE_PAGE_INTERVAL * 1000),
        "closeCodes": {code.name: code.value for code in CloseCode},
    }


def _check_group(tenant_id: int, group: str | None) -> str:
    own = tenant_group(tenant_id)
    if group is None:
        return own
    if group != own and not group.startswith(own + "."):
        raise ValueError(f"group {group!r} is not within tenant {tenant_id}")
    return group


def publish(*, tenant_id: int, event: Event, data: Any, group: str | None = None) -> None:
    """Send one event to the tenant's group (or a sub-group of it, such as a device's)."""
    target = _check_group(tenant_id, group)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(target, message(event, data))
    except Exception:  # live updates are best effort: never fail the write that caused them
        logger.exception("live publish to %s failed", target)


async def publish_async(
    *, tenant_id: int, event: Event, data: Any, group: str | None = None
) -> None:
    """:func:`publish` for asynchronous code (the ingest pipeline); best effort too."""
    target = _check_group(tenant_id, group)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(target, message(event, data))
    except Exception:
        logger.exception("live publish to %s failed", target)


def publish_on_commit(*, tenant_id: int, event: Event, data: Any, group: str | None = None) -> None:
    """Publish once the current transaction commits (at once outside one); nothing on rollback."""
    transaction.on_commit(lambda: publish(tenant_id=tenant_id, event=event, data=data, group=group))


# --- devices with an open detail page ----------------------------------------------------------
# A detail page's socket marks its device as watched (score = until when, refreshed while open);
# ingestion then sends that device's every point to the device's group. Other devices' points
# only reach pages as the tenant's compact "latest values" event, so a busy fleet costs one
# group message per flush however many devices report.

WATCH_SECONDS = 60


async def watch(redis: aioredis.Redis, device_id: int) -> None:
    await redis.zadd(settings.LIVE_WATCH_KEY, {str(device_id): time.time() + WATCH_SECONDS})


async def watched(redis: aioredis.Redis) -> set[int]:
    now = time.time()
    await redis.zremrangebyscore(settings.LIVE_WATCH_KEY, "-inf", now)
    members = await redis.zrangebyscore(settings.LIVE_WATCH_KEY, now, "+inf")
    return {int(str(m, "ascii") if isinstance(m, bytes) else str(m)) for m in members}
