"""Group commit: the readings of concurrent messages share transactions.

Every message waits until its readings are committed (nothing is acknowledged before it is
durable); the messages that arrive while a transaction is being written go into the next one,
so a thousand small devices cost a few transactions a second, not a thousand. When a shared
transaction fails, each of its messages is written again in its own transaction: one message
the database refuses fails alone and stores nothing, and its neighbours (another device,
another tenant) are answered as if it had never been there.
"""

import asyncio
import logging
import operator
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from . import writer
from .writer import Key, Row

# One order for the rows of every transaction, whichever process writes it: two writers storing
# overlapping readings (a resend in flight in both) then wait for each other at the first key
# they share instead of each holding a key the other needs (a deadlock: the soak's MQTT fleet,
# resending 1 % of its batches, hit thousands an hour before).
ROW_ORDER = operator.itemgetter(writer.DEVICE, writer.METRIC, writer.TIME)

logger = logging.getLogger(__name__)

# What a transaction stored (None: every row) and the keys already counted for a message of it.
Outcome = tuple[set[Key] | None, set[Key]]


@dataclass
class _Pending:
    rows: list[Row]
    future: asyncio.Future[Outcome]


class GroupCommitter:
    """``writers`` tasks each take everything queued (up to ``max_rows``, never splitting one
    message), write it in one transaction, resolve every message's future, then hand the stored
    rows to ``on_commit``."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        writers: int,
        max_rows: int,
        on_commit: Callable[[Sequence[Row]], None],
        write: Callable[[Any, Sequence[Row]], Awaitable[set[Key] | None]] = writer.write_async,
    ):
        self.pool = pool
        self.write = write
        self.queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self.max_rows = max_rows
        self.on_commit = on_commit
        self.tasks = [asyncio.create_task(self._run()) for _ in range(writers)]

    async def submit(self, rows: list[Row]) -> tuple[int, int]:
        """Wait until the rows are committed; (accepted, duplicate) of this message."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        await self.queue.put(_Pending(rows, future))
        stored, claimed = await future
        return count(rows, stored, claimed)

    async def submit_many(self, messages: list[list[Row]]) -> list[tuple[int, int] | Exception]:
        """:meth:`submit` for many messages at once (the same transactions as if each had been
        submitted alone, without a task each): each one's (accepted, duplicate) or error."""
        if not messages:
            return []
        loop = asyncio.get_running_loop()
        pending = [_Pending(rows, loop.create_future()) for rows in messages]
        for item in pending:
            self.queue.put_nowait(item)
        await asyncio.wait([item.future for item in pending])
        out: list[tuple[int, int] | Exception] = []
        for item in pending:
            exc = item.future.exception()
            if exc is not None:
                out.append(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            else:
                out.append(count(item.rows, *item.future.result()))
        return out

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            batch = [first]
            size = len(first.rows)
            while size < self.max_rows and not self.queue.empty():
                item = self.queue.get_nowait()
                batch.append(item)
                size += len(item.rows)
            try:
                try:
                    await self._commit(batch)
                except psycopg.errors.TransactionRollback as exc:  # nothing was written
                    logger.warning("ingest write rolled back (%s); once more", type(exc).__name__)
                    await self._commit(batch)
            except Exception as exc:
                if len(batch) == 1 or isinstance(exc, psycopg.OperationalError):
                    # Alone, or the database is unreachable (retrying each would only wait
                    # once per message): every message of the batch fails, nothing stored.
                    logger.exception("ingest write of %d messages failed", len(batch))
                    for item in batch:
                        _fail(item, exc)
                    continue
                logger.warning("ingest write of %d messages failed; each again alone", len(batch))
                for item in batch:
                    try:
                        await self._commit([item])
                    except Exception as exc:
                        logger.exception("ingest write of %d rows failed", len(item.rows))
                        _fail(item, exc)

    async def _commit(self, batch: list[_Pending]) -> None:
        """Write the messages in one transaction, answer them, hand on what was stored."""
        rows = sorted((row for item in batch for row in item.rows), key=ROW_ORDER)
        async with self.pool.connection() as conn, conn.transaction():
            stored = await self.write(conn, rows)
        claimed: set[Key] = set()  # shared: a key resent within one batch counts once
        for item in batch:
            if not item.future.done():
                item.future.set_result((stored, claimed))
        try:
            self.on_commit(rows if stored is None else [r for r in rows if writer.key(r) in stored])
        except Exception:  # a consumer's bug must not stop the writer
            logger.exception("after-commit consumers failed")

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _fail(item: _Pending, exc: Exception) -> None:
    if not item.future.done():
        item.future.set_exception(exc)


def count(rows: list[Row], stored: set[Key] | None, claimed: set[Key]) -> tuple[int, int]:
    """(accepted, duplicate) of one message, given what its shared transaction stored."""
    if stored is None:
        return len(rows), 0
    accepted = 0
    for row in rows:
        key = writer.key(row)
        if key in stored and key not in claimed:
            claimed.add(key)
            accepted += 1
    return accepted, len(rows) - accepted
