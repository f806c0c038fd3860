"""After-commit consumer: ``last_seen`` and the status of devices that report.

Coalesced in memory and flushed every ``INGEST_SEEN_INTERVAL`` (1 s) in one transaction through
the devices app's status writer (``devices.status.devices_seen_async``): a device that was
offline becomes healthy there, recorded, and the change is published once committed. A flush
that fails (the database away, the devices' rows held past the lock timeout) keeps what it held
for the next one: a device is never left unseen.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg
from django.conf import settings

from devices import status

from .consumers import Resources
from .writer import DEVICE, Row

logger = logging.getLogger(__name__)


class LastSeen:
    def __init__(self, resources: Resources) -> None:
        self.pool = resources.pool
        self.seen: dict[int, datetime] = {}
        self.task: asyncio.Task[None] | None = None
        self.stopping = False  # the loop ends even if a cancellation is lost in a flush

    async def start(self) -> None:
        self.task = asyncio.create_task(self._loop())

    def committed(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        # The time of the commit, not of the readings: a device replaying a day of buffered
        # readings is seen now.
        now = datetime.now(UTC)
        for row in rows:
            self.seen[row[DEVICE]] = now

    async def stop(self) -> None:
        self.stopping = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        with contextlib.suppress(Exception):
            await self.flush()

    async def _loop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(settings.INGEST_SEEN_INTERVAL)
            try:
                await self.flush()
            except psycopg.errors.LockNotAvailable:
                logger.warning("ingest last_seen: devices' rows busy, flushed again next time")
            except Exception:
                logger.exception("ingest last_seen flush failed")

    async def flush(self) -> None:
        if not self.seen:
            return
        seen, self.seen = self.seen, {}
        try:
            async with self.pool.connection() as conn, conn.transaction():
                changes = await status.devices_seen_async(conn, seen, at=datetime.now(UTC))
        except BaseException:
            for device, at in seen.items():  # kept for the next flush, the later time winning
                if device not in self.seen or self.seen[device] < at:
                    self.seen[device] = at
            raise
        await status.publish_async(changes)
