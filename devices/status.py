"""The one writer of device status: every transition, its history row and its live event.

A device's status moves only through the :class:`Transition`\\ s below, each naming the
statuses it may start from, where it leads and why. Ingestion (data received), the offline
sweep, maintenance, the Django admin, and later the analytics engine all go through here, so a
change is always recorded (``DeviceStatusChange``) and published (``device.status``) and the
rules live once. One SQL statement applies a transition to any number of devices (lock in id
order, update, insert the history rows); the synchronous path runs it through Django's
connection and publishes after commit, the asynchronous path (the ingest pipeline, which talks
to PostgreSQL with psycopg directly) runs it on the caller's connection and returns what changed
for the caller to publish after its commit.

Offline detection uses each device's own reporting interval: the one sent with ``set_config``
(desired, and reported once the device acknowledged it) over its type's default. While a change
is on its way the longer of the two counts, so a device told to report more slowly never flips
to offline and back.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from iotplatform import live

from .models import Device, DeviceStatus

S = DeviceStatus
EVERY = frozenset(S.values)
# Offline after this many expected intervals without data.
SILENT_INTERVALS = 3


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    reason: str


DATA_RECEIVED = Transition(frozenset({S.OFFLINE}), S.HEALTHY, "data received")
SILENT = Transition(
    frozenset({S.HEALTHY, S.ANOMALY}),
    S.OFFLINE,
    f"no data for {SILENT_INTERVALS} expected intervals",
)
MAINTENANCE_ON = Transition(EVERY - {S.MAINTENANCE}, S.MAINTENANCE, "maintenance on")
# Out of maintenance a device is offline until its next reading says otherwise.
MAINTENANCE_OFF = Transition(frozenset({S.MAINTENANCE}), S.OFFLINE, "maintenance off")
ANOMALY_FLAGGED = Transition(frozenset({S.HEALTHY}), S.ANOMALY, "anomaly detected")
ANOMALY_CLEARED = Transition(frozenset({S.ANOMALY}), S.HEALTHY, "behaving normally again")


def transition_to(target: str, reason: str) -> Transition:
    """A manual change (the Django admin): from any other status to ``target``."""
    if target not in EVERY:
        raise ValueError(f"unknown device status {target!r}")
    return Transition(EVERY - {target}, target, reason[:200])


@dataclass(frozen=True)
class Change:
    tenant_id: int
    device_id: int
    name: str
    previous: str
    status: str
    at: datetime
    reason: str

    def event(self) -> live.DeviceStatusData:
        return live.device_status_data(
            device_id=self.device_id,
            name=self.name,
            previous=self.previous,
            status=self.status,
            at=self.at.isoformat(),
            reason=self.reason,
        )


# Devices locked in id order (concurrent writers never deadlock), changed, and their history
# recorded, in one statement. Every lock on devices' rows here is NO KEY UPDATE (``LOCK_SQL``).
TRANSITION_SQL = """
WITH prev AS (
    SELECT id, status FROM devices_device
    WHERE id = ANY(%(ids)s::int8[]) AND status = ANY(%(sources)s::text[])
    ORDER BY id FOR NO KEY UPDATE
),
changed AS (
    UPDATE devices_device d SET status = %(target)s
    FROM prev WHERE d.id = prev.id
    RETURNING d.tenant_id, d.id, d.name, prev.status AS previous
),
history AS (
    INSERT INTO devices_devicestatuschange
        (tenant_id, device_id, at, from_status, to_status, reason)
    SELECT tenant_id, id, %(at)s, previous, %(target)s, %(reason)s FROM changed
)
SELECT tenant_id, id, name, previous FROM changed ORDER BY id
"""

# A device's expected reporting interval in seconds: its own (desired, and reported once it
# acknowledged) over its type's; the longer while they differ. Only JSON numbers count: the
# reported configuration comes from the device.
_OWN = (
    "CASE WHEN jsonb_typeof(d.{side}->'interval_seconds') = 'number' "
    "THEN (d.{side}->>'interval_seconds')::numeric END"
)
EXPECTED_INTERVAL_SQL = (
    "GREATEST(1, COALESCE({desired}, t.expected_interval_seconds), "
    "COALESCE({reported}, {desired}, t.expected_interval_seconds))"
).format(desired=_OWN.format(side="desired_config"), reported=_OWN.format(side="reported_config"))

SILENT_SQL = f"""
SELECT d.id FROM devices_device d JOIN devices_devicetype t ON t.id = d.type_id
WHERE d.status = ANY(%(sources)s::text[])
  AND (d.last_seen IS NULL OR d.last_seen
       < %(now)s - make_interval(secs => {SILENT_INTERVALS} * {EXPECTED_INTERVAL_SQL}))
ORDER BY d.id
FOR NO KEY UPDATE OF d SKIP LOCKED
"""

# NO KEY UPDATE, the lock an UPDATE of these columns takes: a transaction that inserted rows
# referring to a device (an anomaly event, a kept fit) holds KEY SHARE on it, which this does
# not wait for.
LOCK_SQL = (
    "SELECT id FROM devices_device WHERE id = ANY(%(ids)s::int8[]) ORDER BY id FOR NO KEY UPDATE"
)
SEEN_SQL = """
UPDATE devices_device d SET last_seen = GREATEST(d.last_seen, v.seen)
FROM unnest(%(ids)s::int8[], %(seen)s::timestamptz[]) AS v(id, seen)
WHERE d.id = v.id
"""


def _params(transition: Transition, ids: Sequence[int], at: datetime) -> dict[str, Any]:
    return {
        "ids": list(ids),
        "sources": sorted(transition.sources),
        "target": transition.target,
        "reason": transition.reason,
        "at": at,
    }


def _changes(rows: Iterable[tuple[Any, ...]], transition: Transition, at: datetime) -> list[Change]:
    return [
        Change(tenant_id, device_id, name, previous, transition.target, at, transition.reason)
        for tenant_id, device_id, name, previous in rows
    ]


def publish_on_commit(changes: Iterable[Change]) -> None:
    for change in changes:
        live.publish_on_commit(
            tenant_id=change.tenant_id, event=live.Event.DEVICE_STATUS, data=change.event()
        )


async def publish_async(changes: Iterable[Change]) -> None:
    for change in changes:
        await live.publish_async(
            tenant_id=change.tenant_id, event=live.Event.DEVICE_STATUS, data=change.event()
        )


def devices_lock(device_ids: Sequence[int]) -> None:
    """Lock the devices' rows in id order until the caller's transaction ends, as ingestion's
    ``last_seen`` flush does (``devices_seen_async``): a writer of many devices' rows that takes
    them this way, last in its transaction, never deadlocks with ingestion and holds them for
    no longer than its own updates (ingestion waits at most its lock timeout)."""
    if device_ids:
        with connection.cursor() as cursor:
            cursor.execute(LOCK_SQL, {"ids": sorted(device_ids)})


def devices_transition(
    *, device_ids: Sequence[int], transition: Transition, at: datetime | None = None
) -> list[Change]:
    """Apply ``transition`` to those of the devices in one of its source statuses; record and
    (after commit) publish each change. Devices in another status are left alone."""
    if not device_ids:
        return []
    at = at or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(TRANSITION_SQL, _params(transition, device_ids, at))
        changes = _changes(cursor.fetchall(), transition, at)
        publish_on_commit(changes)
    return changes


def device_status_set(*, device: Device, transition: Transition) -> Device:
    """Apply a transition to one device; returns the device as it now is."""
    devices_transition(device_ids=[device.id], transition=transition)
    device.refresh_from_db(fields=["status"])
    return device


def devices_silent_sweep(*, now: datetime | None = None) -> list[Change]:
    """Devices silent for :data:`SILENT_INTERVALS` of their expected interval go offline.

    Devices another sweep holds are skipped (SKIP LOCKED), so two sweeps never wait on each
    other; devices in maintenance or already offline are left alone.
    """
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(SILENT_SQL, {"sources": sorted(SILENT.sources), "now": now})
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return []
        cursor.execute(TRANSITION_SQL, _params(SILENT, ids, now))
        changes = _changes(cursor.fetchall(), SILENT, now)
        publish_on_commit(changes)
    return changes


async def devices_seen_async(
    conn: psycopg.AsyncConnection[Any], seen: dict[int, datetime], *, at: datetime
) -> list[Change]:
    """Ingestion's path, on the caller's connection and inside its transaction: move each
    device's ``last_seen`` forward and bring offline devices back (recorded). The caller
    publishes the returned changes once its transaction committed (:func:`publish_async`)."""
    if not seen:
        return []
    ids = sorted(seen)
    # Locked in id order first: two ingest processes flushing overlapping devices never deadlock.
    await conn.execute(LOCK_SQL, {"ids": ids})
    await conn.execute(SEEN_SQL, {"ids": ids, "seen": [seen[i] for i in ids]})
    cursor = await conn.execute(TRANSITION_SQL, _params(DATA_RECEIVED, ids, at))
    return _changes(await cursor.fetchall(), DATA_RECEIVED, at)
