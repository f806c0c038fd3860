"""Limits that protect the platform from one device or one tenant: size and rate.

Rates are counted in Redis per second (shared by every ingest process): requests per device and
points per tenant. The limiter fails open: with Redis down ingestion goes on, unlimited, with a
warning in the log, because refusing every reading would be the worse outage.

Refusals are cheap: a body with more keys than a message of ``INGEST_MAX_POINTS`` points could
hold is refused while it is read (its colons counted, before any JSON parsing), and a sender's
refused messages count against its request rate — beyond it, its next messages in that second
are answered 429 at once, without reading Redis or parsing anything.
"""

import logging
import time

from django.conf import settings
from redis import asyncio as aioredis

from devices.credentials import DeviceIdentity, Identity

from .errors import IngestError, too_large, too_many

logger = logging.getLogger(__name__)

# Devices of one gateway request counted against their own rate (beyond, the tenant's counts).
MAX_DEVICES_COUNTED = 50
# The most colons a message of one point may need: "ts", "values", the metric and an ISO time's
# two; a body with more than this times INGEST_MAX_POINTS (+ slack) is over the limit for sure.
COLONS_PER_POINT = 5


def key_budget() -> int:
    return settings.INGEST_MAX_POINTS * COLONS_PER_POINT + 64


def check_keys(colons: int) -> None:
    """IngestError 413 when a body holds more keys than any acceptable message could."""
    if colons > key_budget():
        raise too_large(
            f"more than {key_budget()} keys in one request; the limit is "
            f"{settings.INGEST_MAX_POINTS} points: split the batch"
        )


def sender(identity: Identity) -> str:
    """The rate-limit key of whoever sent a message: the device, or the tenant's gateway."""
    if isinstance(identity, DeviceIdentity):
        return f"d:{identity.device_id}"
    return f"g:{identity.tenant_id}"


def check_points(points: int) -> None:
    """IngestError 413 when one message carries more points than allowed."""
    if points > settings.INGEST_MAX_POINTS:
        raise too_large(
            f"{points} points in one request; the limit is "
            f"{settings.INGEST_MAX_POINTS}: split the batch"
        )


# Counts many keys in one round trip: KEYS[i] += ARGV[i], expiring with its second; the counts.
COUNT_MANY = """
local out = {}
for i, key in ipairs(KEYS) do
  local n = tonumber(ARGV[i])
  local c = redis.call('INCRBY', key, n)
  if c == n then redis.call('EXPIRE', key, 2) end
  out[i] = c
end
return out
"""


class RateLimiter:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.count_many = redis.register_script(COUNT_MANY)
        self.blocked: dict[str, int] = {}  # sender → the second it is refused in

    def check_blocked(self, identity: Identity) -> None:
        """IngestError 429 at once for a sender over its rate with refused messages this
        second (in-process: no Redis, no parsing)."""
        if self.blocked and self.blocked.get(sender(identity)) == int(time.time()):
            raise too_many(
                f"more than {settings.INGEST_DEVICE_RATE} requests a second, refused ones "
                "included: fix the messages"
            )

    async def count_refused(self, identity: Identity) -> None:
        """Count a refused message against its sender's request rate."""
        second = int(time.time())
        key = f"iot:rl:{sender(identity)}:{second}"
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, 2)
            count, _ = await pipe.execute()
        except Exception:
            logger.warning("rate limiter unavailable; not limiting", exc_info=True)
            return
        if count > settings.INGEST_DEVICE_RATE:
            if len(self.blocked) > 10_000:
                self.blocked.clear()
            self.blocked[sender(identity)] = second

    async def check(self, *, tenant_id: int, device_ids: list[int], points: int) -> None:
        """Count one message; IngestError 429 when a device or the tenant is over its rate."""
        second = int(time.time())
        try:
            pipe = self.redis.pipeline(transaction=False)
            for device_id in device_ids[:MAX_DEVICES_COUNTED]:
                pipe.incr(f"iot:rl:d:{device_id}:{second}")
                pipe.expire(f"iot:rl:d:{device_id}:{second}", 2)
            pipe.incrby(f"iot:rl:t:{tenant_id}:{second}", points)
            pipe.expire(f"iot:rl:t:{tenant_id}:{second}", 2)
            results = await pipe.execute()
        except Exception:  # the limiter must never stop ingestion: fail open, loudly
            logger.warning("rate limiter unavailable; not limiting", exc_info=True)
            return
        device_counts = results[0:-2:2]
        if any(count > settings.INGEST_DEVICE_RATE for count in device_counts):
            raise too_many(
                f"more than {settings.INGEST_DEVICE_RATE} requests a second for this device"
            )
        if results[-2] > settings.INGEST_TENANT_RATE:
            raise too_many(
                f"more than {settings.INGEST_TENANT_RATE} points a second for this tenant"
            )

    async def check_many(
        self, messages: list[tuple[int, list[int], int, int]]
    ) -> list[IngestError | None]:
        """:meth:`check` for many messages in one round trip: each is (tenant, devices, points,
        requests: how many messages it stands for); for each, its 429 or None. A device or
        tenant over its rate refuses every message of it in the lot."""
        second = int(time.time())
        counts: dict[str, int] = {}
        for tenant_id, device_ids, points, requests in messages:
            for device_id in device_ids[:MAX_DEVICES_COUNTED]:
                key = f"iot:rl:d:{device_id}:{second}"
                counts[key] = counts.get(key, 0) + requests
            key = f"iot:rl:t:{tenant_id}:{second}"
            counts[key] = counts.get(key, 0) + points
        try:
            found = await self.count_many(keys=list(counts), args=list(counts.values()))
            totals = dict(zip(counts, found, strict=True))
        except Exception:  # the limiter must never stop ingestion: fail open, loudly
            logger.warning("rate limiter unavailable; not limiting", exc_info=True)
            return [None] * len(messages)
        device_rate = f"more than {settings.INGEST_DEVICE_RATE} requests a second for this device"
        tenant_rate = f"more than {settings.INGEST_TENANT_RATE} points a second for this tenant"
        out: list[IngestError | None] = []
        for tenant_id, device_ids, _, _ in messages:
            if any(
                totals[f"iot:rl:d:{d}:{second}"] > settings.INGEST_DEVICE_RATE
                for d in device_ids[:MAX_DEVICES_COUNTED]
            ):
                out.append(too_many(device_rate))
            elif totals[f"iot:rl:t:{tenant_id}:{second}"] > settings.INGEST_TENANT_RATE:
                out.append(too_many(tenant_rate))
            else:
                out.append(None)
        return out
