"""Limits that protect the platform from one device or one tenant: size and rate.

Rates are counted in Redis per second (shared by every ingest process): requests per device and
points per tenant. The limiter fails open: with Redis down ingestion goes on, unlimited, with a
warning in the log, because refusing every reading would be the worse outage.
"""

import logging
import time

from django.conf import settings
from redis import asyncio as aioredis

from .errors import too_large, too_many

logger = logging.getLogger(__name__)

# Devices of one gateway request counted against their own rate (beyond, the tenant's counts).
MAX_DEVICES_COUNTED = 50


def check_points(points: int) -> None:
    """IngestError 413 when one message carries more points than allowed."""
    if points > settings.INGEST_MAX_POINTS:
        raise too_large(
            f"{points} points in one request; the limit is "
            f"{settings.INGEST_MAX_POINTS}: split the batch"
        )


class RateLimiter:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

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
