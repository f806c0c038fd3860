"""After-commit consumer: the readings that alert rules watch, handed to the rule evaluator.

Only readings of a (tenant, metric) that an enabled threshold or rate rule watches are kept
(the set is read every ``ALERTS_RULES_REFRESH`` seconds, so a new rule sees readings within
that); they are gathered in memory and added every ``ALERTS_FLUSH_INTERVAL`` to a Redis stream
(``ALERTS_STREAM_KEY``, one entry a flush, capped near ``ALERTS_STREAM_MAXLEN``) that
``alerts.evaluator`` reads with a consumer group. Ingestion never waits for it: ``committed``
filters and appends, the rest is the consumer's own task, and a Redis failure loses alert input
(logged), never readings.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from redis import asyncio as aioredis

from telemetry.ingest.consumers import Resources
from telemetry.ingest.writer import Row

logger = logging.getLogger(__name__)

WATCHED_SQL = (
    "SELECT DISTINCT tenant_id, metric FROM alerts_alertrule "
    "WHERE enabled AND kind IN ('threshold', 'rate') AND metric <> ''"
)


def entry(rows: Sequence[Sequence[Any]]) -> dict[str, str]:
    """A stream entry: rows of (milliseconds, tenant, device, metric, value)."""
    return {"rows": json.dumps(rows, separators=(",", ":"))}


def rows_of(fields: dict[Any, Any]) -> list[tuple[int, int, int, str, float]]:
    raw = fields.get(b"rows", fields.get("rows", b"[]"))
    return [(int(t), int(te), int(d), str(m), float(v)) for t, te, d, m, v in json.loads(raw)]


class RuleStream:
    def __init__(self, resources: Resources) -> None:
        self.pool = resources.pool
        # Its own client: a stream write never shares a connection with the pipeline's other
        # Redis traffic (rate limits, live pushes).
        self.redis = aioredis.from_url(settings.REDIS_URL, socket_timeout=1)
        self.watched: set[tuple[int, str]] = set()
        self.rows: list[list[Any]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = False  # the loops end even if a cancellation is lost in a call

    async def start(self) -> None:
        with contextlib.suppress(Exception):  # read again every few seconds anyway
            await self.refresh()
        self.tasks = [
            asyncio.create_task(self._flush_loop()),
            asyncio.create_task(self._refresh_loop()),
        ]

    def committed(self, rows: Sequence[Row]) -> None:
        watched = self.watched
        if not watched:
            return
        for when, tenant_id, device_id, metric, value in rows:
            if (tenant_id, metric) in watched:
                self.rows.append(
                    [int(when.timestamp() * 1000), tenant_id, device_id, metric, value]
                )

    async def stop(self) -> None:
        self.stopping = True
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []
        with contextlib.suppress(Exception):
            await self.flush()
        await self.redis.aclose()

    async def refresh(self) -> None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(WATCHED_SQL)
            self.watched = {(int(t), str(m)) for t, m in await cursor.fetchall()}

    async def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        await self.redis.xadd(
            settings.ALERTS_STREAM_KEY,
            entry(rows),  # type: ignore[arg-type]
            maxlen=settings.ALERTS_STREAM_MAXLEN,
            approximate=True,
        )

    async def _flush_loop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(settings.ALERTS_FLUSH_INTERVAL)
            try:
                await self.flush()
            except Exception:
                logger.exception("alert stream flush failed")

    async def _refresh_loop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(settings.ALERTS_RULES_REFRESH)
            try:
                await self.refresh()
            except Exception:
                logger.exception("alert rules refresh failed")
