"""Authentication for the ingest pipeline: device tokens, gateway keys and gateway serials,
checked against the database (``devices.credentials``) and cached briefly per process.

A token check is cached for ``INGEST_AUTH_CACHE_SECONDS`` (10 s): a revoked token stops working
within that time. An unknown token is remembered for 2 s only, so a device just registered can
send at once.
"""

import time
from typing import Any

from django.conf import settings
from psycopg_pool import AsyncConnectionPool

from devices import credentials
from devices.credentials import DeviceIdentity, GatewayIdentity

from .errors import unauthorized

NEGATIVE_SECONDS = 2.0


class TTLCache:
    """A dict whose entries expire; cleared whole when full (an attacker cycling tokens cannot
    make it grow without bound)."""

    def __init__(self, seconds: float, size: int = 100_000):
        self.seconds = seconds
        self.size = size
        self.data: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> tuple[bool, Any]:
        hit = self.data.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, key: Any, value: Any, seconds: float | None = None) -> None:
        if len(self.data) >= self.size:
            self.data.clear()
        self.data[key] = (time.monotonic() + (self.seconds if seconds is None else seconds), value)


class Authenticator:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.tokens = TTLCache(settings.INGEST_AUTH_CACHE_SECONDS)
        self.serials = TTLCache(settings.INGEST_AUTH_CACHE_SECONDS)

    async def device(self, token: str) -> DeviceIdentity:
        """The device of an active token; IngestError 401 otherwise."""
        hit, identity = self.tokens.get(("device", token))
        if not hit:
            async with self.pool.connection() as conn:
                identity = await credentials.device_identity(conn, token)
            self.tokens.put(("device", token), identity, None if identity else NEGATIVE_SECONDS)
        if identity is None:
            raise unauthorized("unknown or revoked device token")
        return identity

    async def gateway(self, key: str) -> GatewayIdentity:
        """The tenant of an active ingestion key; IngestError 401 otherwise."""
        hit, identity = self.tokens.get(("gateway", key))
        if not hit:
            async with self.pool.connection() as conn:
                identity = await credentials.gateway_identity(conn, key)
            self.tokens.put(("gateway", key), identity, None if identity else NEGATIVE_SECONDS)
        if identity is None:
            raise unauthorized("unknown or revoked ingestion key")
        return identity

    async def device_ids(self, tenant_id: int, serials: list[str]) -> dict[str, int]:
        """serial → device id for the tenant's devices among ``serials`` (unknown ones absent;
        they are looked up again next time, so a device registered meanwhile is found)."""
        found: dict[str, int] = {}
        missing = []
        for serial in serials:
            hit, device_id = self.serials.get((tenant_id, serial))
            if hit:
                found[serial] = device_id
            else:
                missing.append(serial)
        if missing:
            async with self.pool.connection() as conn:
                looked_up = await credentials.device_ids_by_serial(conn, tenant_id, missing)
            for serial, device_id in looked_up.items():
                found[serial] = device_id
                self.serials.put((tenant_id, serial), device_id)
        return found
