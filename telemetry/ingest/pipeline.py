"""The ingestion pipeline every transport calls: identity + payload in, per-item result out.

    pipeline = IngestPipeline()            # one per process; started on first use
    identity = await pipeline.authenticate_device(token)     # or authenticate_gateway(key)
    result = await pipeline.ingest_body(identity, body)      # body: the message's bytes
    result.status, result.answer()         # 200/400 and {"accepted", "duplicate", ...}

(``ingest(identity, payload)`` takes an already decoded payload.)

Steps, the same for HTTP and MQTT: parse and validate (``parse``) → size limit → gateway
serials → rate limits (``limits``) → group commit (``committer``) → the after-commit consumers
(``consumers``: live push, last_seen and status, and whatever else is configured). Errors are
:class:`~telemetry.ingest.errors.IngestError` with the HTTP status they stand for; storage
failures surface as such an error with status 503 (nothing stored, retry).
"""

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from psycopg_pool import AsyncConnectionPool
from redis import asyncio as aioredis

from devices.credentials import DeviceIdentity, GatewayIdentity, Identity
from iotplatform import redisplace
from iotplatform.database import conninfo

from . import parse
from .committer import GroupCommitter
from .consumers import AfterCommit, Resources, consumers_load
from .credentials import Authenticator
from .errors import IngestError, unavailable
from .limits import RateLimiter, check_keys, check_points
from .writer import Row

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A long array of readings is validated in slices of this many items, the event loop serving
# other devices between slices: a large batch costs its sender the time, not every other device
# on the process a pause of that length. (A worker thread would fight the event loop for the
# GIL and cost large batches a good part of their throughput.)
SLICE_ITEMS = 500


@dataclass
class Result:
    """What became of one message's readings."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    # 200 when some readings were valid (stored, or already there); 400 when none could be.
    status: int = 400

    def answer(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
        }
        if self.errors:
            answer["errors"] = self.errors
        return answer


class IngestPipeline:
    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None
        self.pool: AsyncConnectionPool | None = None
        self.redis: aioredis.Redis | None = None
        self.auth: Authenticator | None = None
        self.limiter: RateLimiter | None = None
        self.committer: GroupCommitter | None = None
        self.consumers: list[AfterCommit] = []

    # --- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the pool, Redis and the consumers; safe to call on every message."""
        if self.committer is not None:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.committer is not None:
                return
            pool = AsyncConnectionPool(
                conninfo(application_name="iot-ingest"),
                min_size=1,
                max_size=settings.INGEST_WRITERS + 2,
                timeout=settings.INGEST_STORAGE_WAIT,  # then 503: a device is told, not held
                open=False,
                kwargs={"autocommit": True},
            )
            await pool.open()
            redis = redisplace.async_client(socket_timeout=1)
            self.pool, self.redis = pool, redis
            self.auth = Authenticator(pool)
            await self.auth.start()
            self.limiter = RateLimiter(redis)
            self.consumers = consumers_load(Resources(pool=pool, redis=redis))
            for consumer in self.consumers:
                await consumer.start()
            self.committer = GroupCommitter(
                pool,
                writers=settings.INGEST_WRITERS,
                max_rows=settings.INGEST_MAX_BATCH_ROWS,
                on_commit=self._committed,
            )

    async def stop(self) -> None:
        """Stop writing, let the consumers flush, close the connections."""
        if self.committer is not None:
            await self.committer.close()
        if self.auth is not None:
            await self.auth.stop()
        for consumer in self.consumers:
            try:
                await consumer.stop()
            except Exception:
                logger.exception("stopping %s failed", type(consumer).__name__)
        if self.pool is not None:
            await self.pool.close()
        if self.redis is not None:
            await self.redis.aclose()
        self.committer = self.pool = self.redis = self.auth = self.limiter = None
        self.consumers = []

    def _committed(self, rows: Sequence[Row]) -> None:
        for consumer in self.consumers:
            try:
                consumer.committed(rows)
            except Exception:  # one consumer's bug must not cost the others their rows
                logger.exception("after-commit consumer %s failed", type(consumer).__name__)

    # --- identity -------------------------------------------------------------------------

    async def authenticate_device(self, token: str) -> DeviceIdentity:
        await self.start()
        assert self.auth is not None
        return await _storage(self.auth.device(token))

    async def authenticate_gateway(self, key: str) -> GatewayIdentity:
        await self.start()
        assert self.auth is not None
        return await _storage(self.auth.gateway(key))

    # --- readings -------------------------------------------------------------------------

    def limiter_check_blocked(self, identity: Identity) -> None:
        """IngestError 429 at once when the sender is over its rate with refused messages."""
        if self.limiter is not None:
            self.limiter.check_blocked(identity)

    async def count_refused(self, identity: Identity) -> None:
        """Count a message the transport refused (too large) against its sender's rate."""
        if self.limiter is not None:
            await self.limiter.count_refused(identity)

    async def ingest_body(self, identity: Identity, body: bytes) -> Result:
        """:meth:`ingest` for a message as it came (JSON bytes): refused cheaply when it holds
        too many keys, decoded off the event loop when large, and every refusal counted
        against the sender's rate."""
        await self.start()
        assert self.limiter is not None
        self.limiter.check_blocked(identity)
        try:
            check_keys(body.count(b":"))
            payload = parse.decode(body)
        except parse.PayloadError as exc:
            await self.limiter.count_refused(identity)
            raise IngestError(400, str(exc)) from None
        except IngestError:
            await self.limiter.count_refused(identity)
            raise
        return await self.ingest(identity, payload)

    async def ingest(self, identity: Identity, payload: Any) -> Result:
        """Parse, check and store one message's readings; the answer once they are durable.

        Raises IngestError: 400 for a payload unusable as a whole, 413 too many points, 429 over
        a rate, 503 storage unavailable (nothing stored).
        """
        await self.start()
        assert self.auth is not None and self.limiter is not None and self.committer is not None
        try:
            parsed = await _parse(identity, payload)
        except IngestError:
            await self.limiter.count_refused(identity)
            raise
        return await self._store(identity, parsed)

    async def ingest_many(
        self, messages: Sequence[tuple[Identity, Any, int]]
    ) -> list[Result | IngestError]:
        """:meth:`ingest` for many decoded messages at once (the MQTT bridge's: each
        (identity, payload, how many messages it stands for)): one rate check for them all, and
        their readings handed to the group commit together; each one's result or error."""
        await self.start()
        assert self.limiter is not None and self.committer is not None
        out: list[Result | IngestError | None] = [None] * len(messages)
        ready: list[tuple[int, Result, list[Row], list[int]]] = []
        checks: list[tuple[int, list[int], int, int]] = []
        for k, (identity, payload, requests) in enumerate(messages):
            try:
                self.limiter.check_blocked(identity)
                parsed = await _parse(identity, payload)
                result, rows, device_ids = await self._rows(identity, parsed)
            except IngestError as exc:
                await self.limiter.count_refused(identity)
                out[k] = exc
                continue
            if not rows:
                out[k] = result
                continue
            ready.append((k, result, rows, device_ids))
            checks.append((identity.tenant_id, device_ids, len(rows), requests))
        refusals = await self.limiter.check_many(checks) if checks else []
        going = []
        for (k, result, rows, _), refusal in zip(ready, refusals, strict=True):
            if refusal is None:
                going.append((k, result, rows))
            else:
                out[k] = refusal
        outcomes = await self.committer.submit_many([rows for _, _, rows in going])
        for (k, result, _), outcome in zip(going, outcomes, strict=True):
            if isinstance(outcome, Exception):
                if isinstance(outcome, IngestError):
                    out[k] = outcome
                else:
                    logger.error("ingest storage failed: %r", outcome)
                    out[k] = unavailable()
                continue
            result.accepted, duplicate = outcome
            result.duplicate += duplicate
            result.status = 200
            out[k] = result
        return [r for r in out if r is not None]

    async def _rows(
        self, identity: Identity, message: "_Message"
    ) -> tuple[Result, list[Row], list[int]]:
        """A parsed message's rows (a gateway's serials looked up) and the devices they are of;
        its result so far (duplicates and rejects; 200/400 when there is nothing to store)."""
        assert self.auth is not None
        parsed = message.parsed
        tenant_id = identity.tenant_id
        rows: list[Row] = []
        if message.by_serial is None:
            assert isinstance(identity, DeviceIdentity)
            device_id = identity.device_id
            device_ids = [device_id]
            rows = [(w, tenant_id, device_id, m, v) for w, m, v in parsed.points]
        else:
            known = await _storage(self.auth.device_ids(tenant_id, list(message.by_serial)))
            device_ids = list(known.values())
            for serial, points in message.by_serial.items():
                found = known.get(serial)
                if found is None:
                    parsed.reject(
                        f"unknown device serial {serial[:100]!r}", device=serial, count=len(points)
                    )
                    continue
                rows.extend((w, tenant_id, found, m, v) for w, m, v in points)
        result = Result(
            duplicate=parsed.duplicates, rejected=parsed.rejected, errors=parsed.reasons
        )
        if not rows:
            result.status = 200 if parsed.duplicates and not parsed.rejected else 400
        return result, rows, device_ids

    async def _store(self, identity: Identity, message: "_Message") -> Result:
        assert self.limiter is not None and self.committer is not None
        result, rows, device_ids = await self._rows(identity, message)
        if not rows:
            return result
        await self.limiter.check(
            tenant_id=identity.tenant_id, device_ids=device_ids, points=len(rows)
        )
        accepted, duplicate = await _storage(self.committer.submit(rows))
        result.accepted = accepted
        result.duplicate += duplicate
        result.status = 200
        return result


@dataclass
class _Message:
    """A parsed message: its readings, and for a gateway's the points of each serial."""

    parsed: parse.Parsed
    by_serial: dict[str, list[parse.Point]] | None


async def _parse(identity: Identity, payload: Any) -> _Message:
    """Validate a decoded payload, yielding to the event loop between slices of a long one."""
    now = datetime.now(UTC)
    max_future = timedelta(seconds=settings.INGEST_MAX_FUTURE_SECONDS)
    try:
        if isinstance(identity, DeviceIdentity):
            if isinstance(payload, list) and len(payload) > SLICE_ITEMS:
                parsed = parse.Parsed()
                seen: set[tuple[str, datetime]] = set()
                for first in range(0, len(payload), SLICE_ITEMS):
                    parse.parse_device(
                        payload[first : first + SLICE_ITEMS],
                        now=now,
                        max_future=max_future,
                        out=parsed,
                        seen=seen,
                        start=first,
                    )
                    await asyncio.sleep(0)
            else:
                parsed = parse.parse_device(payload, now=now, max_future=max_future)
            check_points(parsed.total)
            return _Message(parsed, None)
        by_serial, parsed = parse.parse_gateway(payload, now=now, max_future=max_future)
        check_points(parsed.total)
        return _Message(parsed, by_serial)
    except parse.PayloadError as exc:
        raise IngestError(400, str(exc)) from None


async def _storage(awaitable: Awaitable[T]) -> T:
    """Await a step that talks to storage; any failure but our own errors becomes a 503."""
    try:
        return await awaitable
    except IngestError:
        raise
    except Exception as exc:
        logger.exception("ingest storage failed")
        raise unavailable() from exc
