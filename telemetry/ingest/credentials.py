"""Authentication for the ingest pipeline: device tokens, gateway keys and gateway serials,
checked against the database (``devices.credentials``) and cached briefly per process.

A token check is cached for ``INGEST_AUTH_CACHE_SECONDS`` (10 s), but only while the process
listens to the revocation channel (``devices.credentials.REVOKED_CHANNEL``): a revoked or
rotated token, a revoked key or a deleted device is announced there after it commits and every
process empties its caches at once. While the subscription is down (Redis restarting) nothing
is cached. An unknown token is remembered for 2 s only, so a device just registered can send
at once.
"""

import asyncio
import contextlib
import logging
import time
from typing import Any

from django.conf import settings
from psycopg_pool import AsyncConnectionPool

from devices import credentials
from devices.credentials import REVOKED_CHANNEL, DeviceIdentity, GatewayIdentity
from iotplatform import redisplace

from .errors import unauthorized

logger = logging.getLogger(__name__)

NEGATIVE_SECONDS = 2.0
RESUBSCRIBE_SECONDS = 1.0


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
        self.listening = False  # subscribed to the revocation channel: the caches may be used
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen for revocations; returns once subscribed (or after a short wait if Redis is
        down: the process then works uncached until it can listen)."""
        subscribed = asyncio.Event()
        self.task = asyncio.create_task(self._listen(subscribed))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscribed.wait(), timeout=2)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    def forget(self) -> None:
        """Drop every cached check: the next message of each device is checked again."""
        self.tokens.data.clear()
        self.serials.data.clear()

    async def _listen(self, subscribed: asyncio.Event) -> None:
        while True:
            # Its own connection, without a read timeout: the channel may be quiet for days.
            client = redisplace.async_client(socket_connect_timeout=2, health_check_interval=30)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(REVOKED_CHANNEL)
                self.forget()  # whatever was announced while we were not listening
                self.listening = True
                subscribed.set()
                async for _ in pubsub.listen():
                    self.forget()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("revocation channel lost (%s); checking every token", exc)
            finally:
                self.listening = False
                self.forget()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()
            subscribed.set()
            await asyncio.sleep(RESUBSCRIBE_SECONDS)

    def _cached(self, cache: TTLCache, key: Any) -> tuple[bool, Any]:
        return cache.get(key) if self.listening else (False, None)

    async def device(self, token: str) -> DeviceIdentity:
        """The device of an active token; IngestError 401 otherwise."""
        hit, identity = self._cached(self.tokens, ("device", token))
        if not hit:
            async with self.pool.connection() as conn:
                identity = await credentials.device_identity(conn, token)
            self.tokens.put(("device", token), identity, None if identity else NEGATIVE_SECONDS)
        if identity is None:
            raise unauthorized("unknown or revoked device token")
        return identity

    async def gateway(self, key: str) -> GatewayIdentity:
        """The tenant of an active ingestion key; IngestError 401 otherwise."""
        hit, identity = self._cached(self.tokens, ("gateway", key))
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
            hit, device_id = self._cached(self.serials, (tenant_id, serial))
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
