"""Publishing live events to a tenant's browsers, only after the writing transaction commits.

Services call :func:`publish_on_commit`; consumers relay ``live.event`` messages to their sockets
(the frontend's ``LiveConsumer``). A message never goes to another tenant's group.
"""

import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from redis import asyncio as aioredis

from iotplatform.tenancy.scoping import tenant_group

logger = logging.getLogger(__name__)


def publish(*, tenant_id: int, event: str, data: dict[str, Any], group: str | None = None) -> None:
    """Send one event to the tenant's group (or a sub-group of it, such as a device's)."""
    layer = get_channel_layer()
    if layer is None:
        return
    target = group or tenant_group(tenant_id)
    if not target.startswith(tenant_group(tenant_id)):
        raise ValueError(f"group {target!r} is not within tenant {tenant_id}")
    try:
        async_to_sync(layer.group_send)(
            target, {"type": "live.event", "event": event, "data": data}
        )
    except Exception:  # live updates are best effort: never fail the write that caused them
        logger.exception("live publish to %s failed", target)


def publish_on_commit(
    *, tenant_id: int, event: str, data: dict[str, Any], group: str | None = None
) -> None:
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
