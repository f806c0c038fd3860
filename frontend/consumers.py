"""WebSocket consumers of the pages. Authentication and tenant checks live in TenantConsumer,
which also closes a socket whose access is gone (then nothing pending is sent).

Every page opens one socket. Events from the channel layer are not relayed one by one: they are
merged into a pending batch and sent as one ``{"type": "batch", "events": [...]}`` frame at most
once per ``LIVE_PAGE_INTERVAL`` (the first after a quiet spell goes at once), so a busy fleet
costs a page a few small frames a second whatever the fleet's rate:

- ``telemetry`` (the tenant's newest value per device and metric) keeps only the newest point;
- ``device.telemetry`` (every point of the device of a detail page) is concatenated, capped;
- ``device.status`` keeps one entry per device (first ``from``, last ``to``);
- anything else (commands, simulator, alerts) is kept in order, capped.
"""

import asyncio
import contextlib
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from devices import selectors as device_selectors
from iotplatform import redisplace
from iotplatform.live import (
    MAX_EVENTS_PER_FRAME,
    MAX_POINTS_PER_METRIC,
    WATCH_SECONDS,
    Event,
    device_group,
    watch,
)
from iotplatform.tenancy.scoping import TenantConsumer, get_for_tenant_or_404


class LiveBatch:
    """The events waiting for the next frame of one page."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, list[Any]]] = {}
        self.points: dict[int, dict[str, list[list[Any]]]] = {}
        self.status: dict[int, dict[str, Any]] = {}
        self.other: list[dict[str, Any]] = []

    def __bool__(self) -> bool:
        return bool(self.latest or self.points or self.status or self.other)

    def add(self, event: str, data: dict[str, Any]) -> None:
        if event == Event.TELEMETRY:
            for device, metrics in data["devices"].items():
                mine = self.latest.setdefault(device, {})
                for metric, point in metrics.items():
                    if metric not in mine or mine[metric][0] <= point[0]:
                        mine[metric] = point
        elif event == Event.DEVICE_TELEMETRY:
            mine_points = self.points.setdefault(data["device"], {})
            for metric, series in data["points"].items():
                kept = mine_points.setdefault(metric, [])
                kept.extend(series)
                del kept[:-MAX_POINTS_PER_METRIC]
        elif event == Event.DEVICE_STATUS:
            previous = self.status.get(data["device"])
            self.status[data["device"]] = (
                {**data, "from": previous["from"]} if previous is not None else data
            )
        else:
            self.other.append({"type": event, "data": data})
            del self.other[:-MAX_EVENTS_PER_FRAME]

    def events(self) -> list[dict[str, Any]]:
        events = [{"type": Event.DEVICE_STATUS.value, "data": d} for d in self.status.values()]
        events += self.other
        if self.latest:
            events.append({"type": Event.TELEMETRY.value, "data": {"devices": self.latest}})
        events += [
            {"type": Event.DEVICE_TELEMETRY.value, "data": {"device": device, "points": points}}
            for device, points in self.points.items()
        ]
        return events


class LiveConsumer(TenantConsumer):
    """Relays the tenant's live events (device status changes, readings, commands) to a page."""

    batch: LiveBatch
    last_sent = 0.0
    flusher: "asyncio.Task[None] | None" = None

    def wants(self, event: str) -> bool:
        return True

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def live_event(self, message: dict[str, Any]) -> None:
        if self.revoked or not self.wants(message["event"]):
            return
        if not hasattr(self, "batch"):
            self.batch = LiveBatch()
        self.batch.add(message["event"], message["data"])
        if self.flusher is None:
            wait = self.last_sent + settings.LIVE_PAGE_INTERVAL - time.monotonic()
            if wait <= 0:
                await self.flush()
            else:
                self.flusher = asyncio.create_task(self._flush_later(wait))

    async def _flush_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self.flusher = None
        await self.flush()

    async def flush(self) -> None:
        batch, self.batch = self.batch, LiveBatch()
        self.last_sent = time.monotonic()
        if batch and not self.revoked:
            await self.send_json({"type": "batch", "events": batch.events()})

    async def stop_delivery(self) -> None:
        if self.flusher is not None:
            self.flusher.cancel()
            self.flusher = None
        self.batch = LiveBatch()

    async def disconnect(self, code: int) -> None:
        if self.flusher is not None:
            self.flusher.cancel()
        await super().disconnect(code)


class DeviceLiveConsumer(LiveConsumer):
    """A device detail page: the tenant's status changes plus every reading of its device.

    A device of another tenant (or none) is refused before the handshake, like a foreign
    tenant. While open, the device is marked watched so ingestion publishes its points.
    """

    device_id: int
    keeper: "asyncio.Task[None] | None" = None

    async def extra_groups(self) -> list[str]:
        pk = self.scope["url_route"]["kwargs"]["pk"]
        tenant = self.membership.tenant
        device = await sync_to_async(get_for_tenant_or_404)(
            device_selectors.device_list(tenant=tenant), tenant=tenant, pk=pk
        )
        self.device_id = device.id
        self.keeper = asyncio.create_task(self._keep_watching())
        return [device_group(tenant.id, device.id)]

    def wants(self, event: str) -> bool:
        # The fleet's latest values: this page has its device's every point instead.
        return event != Event.TELEMETRY

    async def _keep_watching(self) -> None:
        redis = redisplace.async_client()
        try:
            while True:
                with contextlib.suppress(Exception):  # best effort: the page still gets status
                    await watch(redis, self.device_id)
                await asyncio.sleep(WATCH_SECONDS / 3)
        finally:
            await redis.aclose()

    async def disconnect(self, code: int) -> None:
        if self.keeper is not None:
            self.keeper.cancel()
        await super().disconnect(code)
