"""After-commit consumer: the readings that alert rules watch, handed to the rule evaluator.

Only readings of a (tenant, metric) that an enabled threshold or rate rule watches are kept
(the set is read every ``ALERTS_RULES_REFRESH`` seconds, so a new rule sees readings within
that). Where only threshold rules watch, a device's run of readings on the same side of every
level and clear level of those rules says nothing new between its first and its last reading:
of each run within a flush only those two are kept (when the hold began; its latest time and
value), and the first reading at which each of the rules' durations is reached (where an alarm
opens), so a 10,000-point batch of normal readings becomes a few rows. Rate and z-score
rules get every reading. The rows are gathered in memory and added every
``ALERTS_FLUSH_INTERVAL`` to a Redis stream (``ALERTS_STREAM_KEY``, one entry a flush, capped
near ``ALERTS_STREAM_MAXLEN``) that ``alerts.evaluator`` reads with a consumer group. Ingestion
never waits for it: ``committed`` filters and appends, the rest is the consumer's own task.
While Redis cannot be reached (restarting) the kept rows wait in memory, at most
``ALERTS_BACKLOG_ROWS`` of them (the oldest go first, counted in the log), and are added in
order once it answers: a restart delays alarms, it does not lose them. Readings are never lost
to it either way.
"""

import asyncio
import bisect
import contextlib
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NamedTuple

from django.conf import settings

from iotplatform import redisplace
from telemetry.ingest.consumers import Resources
from telemetry.ingest.writer import Row

logger = logging.getLogger(__name__)

WATCHED_SQL = (
    "SELECT tenant_id, metric, kind, threshold, clear_threshold, duration_seconds "
    "FROM alerts_alertrule WHERE enabled AND kind IN ('threshold', 'rate', 'zscore') "
    "AND metric <> ''"
)


class Levels(NamedTuple):
    """What the threshold rules on one (tenant, metric) tell apart: their levels and clear
    levels (sorted), and how long they must hold (sorted)."""

    cuts: tuple[float, ...]
    holds: tuple[timedelta, ...]


ENTRY_ROWS = 10_000  # rows per stream entry at most (a backlog goes in several)

EVERY = None  # a (tenant, metric) a rate or z-score rule watches: every reading counts


def levels_of(rules: Sequence[Sequence[Any]]) -> dict[tuple[int, str], Levels | None]:
    """Per watched (tenant, metric): its threshold rules' ``Levels``, or ``EVERY`` when a rate
    rule watches it too."""
    out: dict[tuple[int, str], Levels | None] = {}
    cuts: dict[tuple[int, str], set[float]] = {}
    holds: dict[tuple[int, str], set[timedelta]] = {}
    for tenant_id, metric, kind, threshold, clear, duration in rules:
        key = (int(tenant_id), str(metric))
        if kind != "threshold":
            out[key] = EVERY
            continue
        cuts.setdefault(key, set()).update(x for x in (threshold, clear) if x is not None)
        holds.setdefault(key, set()).update([timedelta(seconds=duration)] if duration else [])
    for key, values in cuts.items():
        if key not in out:
            out[key] = Levels(tuple(sorted(values)), tuple(sorted(holds[key])))
    return out


def zone(levels: tuple[float, ...], value: float) -> int:
    """Which side of every level ``value`` is on (a value at a level is a zone of its own).
    ``RuleStream.committed`` does the same inline: it is the hot loop."""
    left = bisect.bisect_left(levels, value)
    return 2 * left + (left < len(levels) and levels[left] == value)


_MISSING = object()


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
        self.redis = redisplace.async_client(socket_timeout=1)
        self.watched: dict[tuple[int, str], Levels | None] = {}
        self.rows: list[Row] = []
        # Per (device, metric), in this flush: [zone, when its run began, the index of the run's
        # last kept row, whether that row is a replaceable last (else the run's first or a
        # milestone), the next of the rules' holds not reached yet].
        self.runs: dict[tuple[int, str], list[Any]] = {}
        self.backlog: list[list[Any]] = []  # flushed rows Redis has not taken yet, in order
        self.failing = False  # the last flush failed (logged once an outage, not 10 a second)
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
        out, runs, missing = self.rows, self.runs, _MISSING
        for row in rows:
            when, tenant_id, device_id, metric, value = row
            levels = watched.get((tenant_id, metric), missing)
            if levels is missing:
                continue
            if levels is EVERY:
                out.append(row)
                continue
            assert isinstance(levels, Levels)
            cuts = levels.cuts
            left = bisect.bisect_left(cuts, value)
            here = 2 * left + (left < len(cuts) and cuts[left] == value)
            run = runs.get((device_id, metric))
            if run is None or run[0] != here:
                out.append(row)
                runs[(device_id, metric)] = [here, when, len(out) - 1, False, 0]
                continue
            holds, reached = levels.holds, run[4]
            while reached < len(holds) and when - run[1] >= holds[reached]:
                reached += 1
            if reached > run[4]:  # a hold's duration reached here: kept, to open at it
                if run[3]:  # it stands in for the run's last so far
                    out[run[2]] = row
                else:
                    out.append(row)
                    run[2] = len(out) - 1
                run[3], run[4] = False, reached
            elif run[3]:
                if when > out[run[2]][0]:
                    out[run[2]] = row
            else:
                out.append(row)
                run[2], run[3] = len(out) - 1, True

    def pending(self) -> list[list[Any]]:
        """The rows kept since the last flush, as the stream carries them."""
        return [[int(w.timestamp() * 1000), t, d, m, v] for w, t, d, m, v in self.rows]

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
            self.watched = levels_of(await cursor.fetchall())

    async def flush(self) -> None:
        """Add the rows kept since the last flush, after any a failed flush left, to the stream
        (entries of at most ``ENTRY_ROWS``); raises when Redis fails, keeping what it did not
        take for the next flush."""
        if self.rows:
            self.backlog.extend(self.pending())
            self.rows, self.runs = [], {}
            excess = len(self.backlog) - settings.ALERTS_BACKLOG_ROWS
            if excess > 0:
                del self.backlog[:excess]
                logger.warning("alert stream backlog full: the %d oldest readings dropped", excess)
        while self.backlog:
            chunk = self.backlog[:ENTRY_ROWS]
            await self.redis.xadd(
                settings.ALERTS_STREAM_KEY,
                entry(chunk),  # type: ignore[arg-type]
                maxlen=settings.ALERTS_STREAM_MAXLEN,
                approximate=True,
            )
            del self.backlog[: len(chunk)]

    async def _flush_loop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(settings.ALERTS_FLUSH_INTERVAL)
            try:
                await self.flush()
            except Exception:
                if not self.failing:
                    logger.exception("alert stream flush failed; keeping the readings to retry")
                self.failing = True
            else:
                if self.failing:
                    logger.warning("alert stream flushing again")
                self.failing = False

    async def _refresh_loop(self) -> None:
        while not self.stopping:
            await asyncio.sleep(settings.ALERTS_RULES_REFRESH)
            try:
                await self.refresh()
            except Exception:
                logger.exception("alert rules refresh failed")
