"""Who is sending: device tokens and gateway keys checked against their tables, for transports
that talk to PostgreSQL with psycopg directly (the ingest pipeline, asynchronously).

The tables are the devices app's, so their SQL lives here beside :mod:`devices.tokens`; the
token is compared with the stored hash in constant time (``tokens.token_matches``).
"""

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import transaction
from redis import RedisError

from iotplatform import redisplace

from .tokens import token_matches, token_prefix

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceIdentity:
    """A device authenticated by its own token."""

    device_id: int
    tenant_id: int
    serial: str


@dataclass(frozen=True)
class GatewayIdentity:
    """A gateway authenticated by its tenant's ingestion key: it may send for any device of
    the tenant, named by serial."""

    tenant_id: int


Identity = DeviceIdentity | GatewayIdentity

DEVICE_SQL = (
    "SELECT c.token_hash, d.id, d.tenant_id, d.serial FROM devices_devicecredential c "
    "JOIN devices_device d ON d.id = c.device_id "
    "WHERE c.prefix = %s AND c.revoked_at IS NULL"
)
GATEWAY_SQL = (
    "SELECT token_hash, tenant_id FROM devices_ingestkey WHERE prefix = %s AND revoked_at IS NULL"
)
SERIALS_SQL = (
    "SELECT serial, id FROM devices_device WHERE tenant_id = %s AND serial = ANY(%s::text[])"
)


async def _match(
    conn: psycopg.AsyncConnection[Any], sql: str, token: str
) -> tuple[Any, ...] | None:
    prefix = token_prefix(token)
    if prefix is None:
        return None
    cursor = await conn.execute(sql, [prefix])
    found = await cursor.fetchone()
    if found is None or not token_matches(token, found[0]):
        return None
    return tuple(found[1:])


async def device_identity(conn: psycopg.AsyncConnection[Any], token: str) -> DeviceIdentity | None:
    """The device an active token belongs to, or None."""
    row = await _match(conn, DEVICE_SQL, token)
    return DeviceIdentity(*row) if row else None


async def gateway_identity(conn: psycopg.AsyncConnection[Any], key: str) -> GatewayIdentity | None:
    """The tenant of an active ingestion key, or None."""
    row = await _match(conn, GATEWAY_SQL, key)
    return GatewayIdentity(*row) if row else None


async def device_ids_by_serial(
    conn: psycopg.AsyncConnection[Any], tenant_id: int, serials: list[str]
) -> dict[str, int]:
    """serial → device id, for the tenant's devices among ``serials``."""
    cursor = await conn.execute(SERIALS_SQL, [tenant_id, serials])
    return {serial: device_id for serial, device_id in await cursor.fetchall()}


# --- revocation --------------------------------------------------------------------------------
# Every ingest process caches credential checks (telemetry/ingest/credentials.py). A revoked or
# rotated token, a revoked ingestion key and a deleted device must stop working at once in all
# of them, so every such change is announced on this Redis channel after it commits; the
# processes drop their caches when they hear it (and trust no cache while they cannot listen).
REVOKED_CHANNEL = "iot:credentials:revoked"

_redis: Any = None


def revocation_announce() -> None:
    """Announce, once the current transaction commits, that some credential stopped being
    valid. Cheap and idempotent: announcing twice only empties the caches twice."""
    transaction.on_commit(_publish)


def _publish() -> None:
    global _redis
    try:
        if _redis is None:
            _redis = redisplace.client(socket_timeout=2)
        _redis.publish(REVOKED_CHANNEL, b"1")
    except RedisError:
        # The ingest processes notice a lost subscription and stop trusting their caches; a
        # publish that fails here is covered by the cache lifetime (INGEST_AUTH_CACHE_SECONDS).
        logger.exception("could not announce a credential revocation")
