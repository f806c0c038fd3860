"""After-commit consumer: live updates of the readings to the pages.

As soon as a commit brings readings, and then at most every ``INGEST_LIVE_INTERVAL`` (0.1 s),
it sends the newest value of each device and metric to the tenant's group (one compact
``telemetry`` event however many devices reported), and every point of the devices whose detail
page is open (a Redis set refreshed each second, ``iotplatform.live.watched``) to that device's
group as ``device.telemetry``.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings

from iotplatform import live

from .consumers import Resources
from .writer import Row

logger = logging.getLogger(__name__)

WATCHED_REFRESH_SECONDS = 1.0


class LivePush:
    def __init__(self, resources: Resources) -> None:
        self.redis = resources.redis
        # tenant → device → metric → (time, value) of the newest reading
        self.latest: dict[int, dict[int, dict[str, tuple[datetime, float]]]] = defaultdict(dict)
        # (tenant, device) → metric → points, for the watched devices
        self.points: dict[tuple[int, int], dict[str, list[live.Point]]] = {}
        self.watched: set[int] = set()
        self.pending = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        # Set by stop: the loops end even when a cancellation is lost inside a library call
        # (one swallowed while a push was under way left stop waiting for ever).
        self.stopping = False

    async def start(self) -> None:
        with contextlib.suppress(Exception):  # refreshed every second from now on anyway
            self.watched = await live.watched(self.redis)
        self.tasks = [
            asyncio.create_task(self._push_loop()),
            asyncio.create_task(self._watch_loop()),
        ]

    def committed(self, rows: Sequence[Row]) -> None:
        for when, tenant_id, device_id, metric, value in rows:
            latest = self.latest[tenant_id].setdefault(device_id, {})
            current = latest.get(metric)
            if current is None or current[0] < when:
                latest[metric] = (when, value)
            if device_id in self.watched:
                series = self.points.setdefault((tenant_id, device_id), {}).setdefault(metric, [])
                if len(series) < live.MAX_POINTS_PER_METRIC:
                    series.append([int(when.timestamp() * 1000), value])
        if rows:
            self.pending.set()

    async def stop(self) -> None:
        self.stopping = True
        self.pending.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
        with contextlib.suppress(Exception):
            await self.flush()

    async def _push_loop(self) -> None:
        """Push as soon as there is something, then at most once per interval."""
        while not self.stopping:
            await self.pending.wait()
            self.pending.clear()
            try:
                await self.flush()
            except Exception:
                logger.exception("ingest live push failed")
            await asyncio.sleep(settings.INGEST_LIVE_INTERVAL)

    async def _watch_loop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(WATCHED_REFRESH_SECONDS)
            try:
                self.watched = await live.watched(self.redis)
            except Exception:
                logger.warning("watched devices unavailable", exc_info=True)

    async def flush(self) -> None:
        if not self.latest and not self.points:
            return
        latest, self.latest = self.latest, defaultdict(dict)
        points, self.points = self.points, {}
        for (tenant_id, device_id), series in points.items():
            data: live.DeviceTelemetryData = {"device": device_id, "points": series}
            await live.publish_async(
                tenant_id=tenant_id,
                event=live.Event.DEVICE_TELEMETRY,
                data=data,
                group=live.device_group(tenant_id, device_id),
            )
        for tenant_id, devices in latest.items():
            fleet: live.TelemetryData = {
                "devices": {
                    str(device_id): {
                        metric: [int(when.timestamp() * 1000), value]
                        for metric, (when, value) in metrics.items()
                    }
                    for device_id, metrics in devices.items()
                }
            }
            await live.publish_async(tenant_id=tenant_id, event=live.Event.TELEMETRY, data=fleet)
