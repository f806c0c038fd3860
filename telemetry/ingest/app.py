"""The light ASGI application for the device endpoints, placed ahead of Django in the router.

Why not a Django view: Django's per-request machinery and a commit per request cap a small
device's one-reading requests at about 1,000 a second on two cores. Here a request costs a JSON
parse, a cached token check, one Redis round trip for rate limits and a place in a *group
commit*: the readings of all requests that arrive while the previous transaction is being
written go into the next one, by binary COPY, and each request is answered only after its
transaction committed — nothing is acknowledged before it is durable.

Endpoints (also described in the OpenAPI document):

- ``POST /api/v1/ingest`` with ``Authorization: Device <token>`` or ``X-API-Key: <token>``;
- ``POST /api/v1/<token>/telemetry``: ThingsBoard's device API, unchanged firmware works;
- ``POST /api/v1/gateway/telemetry`` with the tenant's ingestion key (``Authorization: Gateway
  <key>`` or ``X-API-Key``): ``{"<device serial>": [{"ts": …, "values": {…}}, …]}``.

Answers: 200 ``{"accepted", "duplicate", "rejected", "errors"}`` (400 when nothing could be
stored), 400 malformed JSON, 401 bad credentials, 413 too large, 429 rate limited (with
Retry-After), 503 storage unavailable (retry; nothing was stored).

After each commit ``last_seen`` is coalesced in memory and flushed once a second in one UPDATE
(a device that was offline becomes healthy, recorded and published). Live updates go out as
soon as a commit brings some and then at most every ``INGEST_LIVE_INTERVAL`` (0.1 s): the newest
value per device and metric to the tenant's Channels group, and every point of the devices whose
detail page is open (a Redis set refreshed each second) to that device's group.
"""

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from psycopg_pool import AsyncConnectionPool
from redis import asyncio as aioredis

from devices.tokens import token_matches, token_prefix
from iotplatform.database import conninfo
from iotplatform.live import watched
from iotplatform.tenancy.scoping import device_group, tenant_group

from . import parse, writer

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

TOKEN_PATH = re.compile(r"^/api/v1/([^/]{1,128})/telemetry/?$")
# ThingsBoard's server-side RPC for devices: long poll for a command, then answer it.
RPC_PATH = re.compile(r"^/api/v1/(?:([^/]{1,128})/)?rpc(?:/(\d{1,18}))?/?$")
RPC_MAX_WAIT_MS = 60_000
INGEST_PATH = "/api/v1/ingest"
LIVE_MAX_POINTS = 3600  # per watched device and metric between two live pushes
GATEWAY_PATH = "/api/v1/gateway/telemetry"


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


@dataclass(frozen=True)
class DeviceIdentity:
    device_id: int
    tenant_id: int
    serial: str


@dataclass(frozen=True)
class GatewayIdentity:
    tenant_id: int


def _decode(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        # The standard library accepts NaN and Infinity, which orjson refuses: decoding them
        # lets each such value be rejected on its own instead of the whole request.
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise HTTPError(400, f"malformed JSON: {exc}") from None


class _TTLCache:
    def __init__(self, seconds: float, size: int = 100_000):
        self.seconds = seconds
        self.size = size
        self.data: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> tuple[bool, Any]:
        hit = self.data.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, key: Any, value: Any, seconds: float | None = None) -> None:
        if len(self.data) >= self.size:
            self.data.clear()
        self.data[key] = (time.monotonic() + (self.seconds if seconds is None else seconds), value)


@dataclass
class _Pending:
    rows: list[writer.Row]
    future: asyncio.Future[tuple[set[writer.Key] | None, set[writer.Key]]]


class GroupCommitter:
    """Gathers the rows of concurrent requests into shared transactions.

    ``writers`` tasks each take everything queued (up to ``max_rows``, never splitting one
    request), write it in one transaction and resolve every request's future with the result.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        writers: int,
        max_rows: int,
        on_commit: Callable[[list[writer.Row]], None],
    ):
        self.pool = pool
        self.queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self.max_rows = max_rows
        self.on_commit = on_commit
        self.tasks = [asyncio.create_task(self._run()) for _ in range(writers)]

    async def submit(
        self, rows: list[writer.Row]
    ) -> tuple[set[writer.Key] | None, set[writer.Key]]:
        """Wait until the rows are committed; returns what the shared transaction stored
        (None: all of it) and the keys already claimed by other requests of that batch."""
        future: asyncio.Future[tuple[set[writer.Key] | None, set[writer.Key]]] = (
            asyncio.get_running_loop().create_future()
        )
        await self.queue.put(_Pending(rows, future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            batch = [first]
            count = len(first.rows)
            while count < self.max_rows and not self.queue.empty():
                item = self.queue.get_nowait()
                batch.append(item)
                count += len(item.rows)
            rows = [row for item in batch for row in item.rows]
            try:
                async with self.pool.connection() as conn, conn.transaction():
                    stored = await writer.write_async(conn, rows)
            except Exception as exc:
                logger.exception("ingest write of %d rows failed", len(rows))
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            claimed: set[writer.Key] = set()  # shared: a key resent within one batch counts once
            for item in batch:
                if not item.future.done():
                    item.future.set_result((stored, claimed))
            self.on_commit(
                rows if stored is None else [r for r in rows if (r[2], r[3], r[0]) in stored]
            )

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _count(
    rows: list[writer.Row], stored: set[writer.Key] | None, claimed: set[writer.Key]
) -> tuple[int, int]:
    """(accepted, duplicate) of one request, given what its shared transaction stored."""
    if stored is None:
        return len(rows), 0
    accepted = 0
    for row in rows:
        key = (row[2], row[3], row[0])
        if key in stored and key not in claimed:
            claimed.add(key)
            accepted += 1
    return accepted, len(rows) - accepted


class IngestApp:
    """ASGI app for the device endpoints; one instance per server process."""

    def __init__(self) -> None:
        self._ready: asyncio.Lock | None = None
        self.pool: AsyncConnectionPool | None = None
        self.committer: GroupCommitter | None = None
        self.redis: aioredis.Redis | None = None
        self.flushers: list[asyncio.Task[None]] = []
        self.auth_cache = _TTLCache(settings.INGEST_AUTH_CACHE_SECONDS)
        self.serial_cache = _TTLCache(settings.INGEST_AUTH_CACHE_SECONDS)
        self.seen: dict[int, tuple[int, datetime]] = {}
        self.live: dict[int, dict[int, dict[str, list[Any]]]] = defaultdict(dict)
        # Every point of the devices whose detail page is open (``iotplatform.live.watched``).
        self.points: dict[tuple[int, int], dict[str, list[list[Any]]]] = {}
        self.watched: set[int] = set()
        self.live_pending: asyncio.Event | None = None

    @staticmethod
    def handles(scope: Scope) -> bool:
        if scope["type"] != "http":
            return False
        path = scope["path"]
        return (
            path in (INGEST_PATH, GATEWAY_PATH)
            or bool(TOKEN_PATH.match(path))
            or bool(RPC_PATH.match(path))
        )

    # --- life cycle -----------------------------------------------------------------------

    async def _start(self) -> None:
        if self._ready is None:
            self._ready = asyncio.Lock()
        async with self._ready:
            if self.committer is not None:
                return
            pool = AsyncConnectionPool(
                conninfo(application_name="iot-ingest"),
                min_size=1,
                max_size=settings.INGEST_WRITERS + 2,
                open=False,
                kwargs={"autocommit": True},
            )
            await pool.open()
            self.pool = pool
            self.redis = aioredis.from_url(settings.REDIS_URL, socket_timeout=1)
            self.committer = GroupCommitter(
                pool,
                writers=settings.INGEST_WRITERS,
                max_rows=settings.INGEST_MAX_BATCH_ROWS,
                on_commit=self._after_commit,
            )
            self.live_pending = asyncio.Event()
            with contextlib.suppress(Exception):  # refreshed every second from now on anyway
                self.watched = await watched(self.redis)
            self.flushers = [
                asyncio.create_task(self._live_loop()),
                asyncio.create_task(self._seen_loop()),
            ]

    async def shutdown(self) -> None:
        for task in self.flushers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.flushers = []
        with contextlib.suppress(Exception):
            await self._flush_seen()
            await self._flush_live()
        if self.committer is not None:
            await self.committer.close()
        if self.pool is not None:
            await self.pool.close()
        if self.redis is not None:
            await self.redis.aclose()
        self.committer = self.pool = self.redis = None

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- after commit: last_seen and live updates -----------------------------------------

    def _after_commit(self, rows: list[writer.Row]) -> None:
        now = datetime.now(UTC)
        for when, tenant_id, device_id, metric, value in rows:
            self.seen[device_id] = (tenant_id, now)
            latest = self.live[tenant_id].setdefault(device_id, {})
            current = latest.get(metric)
            if current is None or current[0] < when:
                latest[metric] = [when, value]
            if device_id in self.watched:
                series = self.points.setdefault((tenant_id, device_id), {}).setdefault(metric, [])
                if len(series) < LIVE_MAX_POINTS:
                    series.append([int(when.timestamp() * 1000), value])
        if rows and self.live_pending is not None:
            self.live_pending.set()

    async def _live_loop(self) -> None:
        """Push live updates as soon as there are some, then at most once per interval."""
        assert self.live_pending is not None
        while True:
            await self.live_pending.wait()
            self.live_pending.clear()
            try:
                await self._flush_live()
            except Exception:
                logger.exception("ingest live push failed")
            await asyncio.sleep(settings.INGEST_LIVE_INTERVAL)

    async def _seen_loop(self) -> None:
        while True:
            await asyncio.sleep(settings.INGEST_SEEN_INTERVAL)
            try:
                await self._flush_seen()
                if self.redis is not None:
                    self.watched = await watched(self.redis)
            except Exception:
                logger.exception("ingest last_seen flush failed")

    async def _flush_live(self) -> None:
        if not self.live:
            return
        live, self.live = self.live, defaultdict(dict)
        points, self.points = self.points, {}
        layer = get_channel_layer()
        if layer is None:
            return
        for (tenant_id, device_id), series in points.items():
            await layer.group_send(
                device_group(tenant_id, device_id),
                {
                    "type": "live.event",
                    "event": "device.telemetry",
                    "data": {"device": device_id, "points": series},
                },
            )
        for tenant_id, devices in live.items():
            data = {
                str(device_id): {
                    metric: [int(when.timestamp() * 1000), value]
                    for metric, (when, value) in metrics.items()
                }
                for device_id, metrics in devices.items()
            }
            await layer.group_send(
                tenant_group(tenant_id),
                {"type": "live.event", "event": "telemetry", "data": {"devices": data}},
            )

    async def _flush_seen(self) -> None:
        if not self.seen or self.pool is None:
            return
        seen, self.seen = self.seen, {}
        ids = sorted(seen)
        async with self.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                """
                WITH v AS (SELECT * FROM unnest(%s::int8[], %s::timestamptz[]) AS v(id, seen)),
                prev AS (
                    SELECT d.id, d.status FROM devices_device d
                    WHERE d.id = ANY(%s::int8[]) ORDER BY d.id FOR UPDATE
                )
                UPDATE devices_device d
                SET last_seen = GREATEST(d.last_seen, v.seen),
                    status = CASE WHEN d.status = 'offline' THEN 'healthy' ELSE d.status END
                FROM v, prev
                WHERE d.id = v.id AND prev.id = d.id
                RETURNING d.tenant_id, d.id, prev.status, d.status, d.name
                """,
                [ids, [seen[i][1] for i in ids], ids],
            )
            changed = [row for row in await cursor.fetchall() if row[2] != row[3]]
            if changed:
                at = datetime.now(UTC)
                await conn.execute(
                    """
                    INSERT INTO devices_devicestatuschange
                        (tenant_id, device_id, at, from_status, to_status, reason)
                    SELECT t, d, %s, f, n, 'data received'
                    FROM unnest(%s::int8[], %s::int8[], %s::text[], %s::text[]) AS x(t, d, f, n)
                    """,
                    [
                        at,
                        [r[0] for r in changed],
                        [r[1] for r in changed],
                        [r[2] for r in changed],
                        [r[3] for r in changed],
                    ],
                )
        layer = get_channel_layer()
        if layer is not None:
            for tenant_id, device_id, previous, status, name in changed:
                await layer.group_send(
                    tenant_group(tenant_id),
                    {
                        "type": "live.event",
                        "event": "device.status",
                        "data": {
                            "device": device_id,
                            "name": name,
                            "from": previous,
                            "to": status,
                            "at": at.isoformat(),
                        },
                    },
                )

    # --- authentication -------------------------------------------------------------------

    async def _lookup(self, kind: str, token: str, sql: str) -> tuple[Any, ...] | None:
        """The row of an active credential matching the token (cached, negatives briefly)."""
        hit, row = self.auth_cache.get((kind, token))
        if hit:
            return row
        row = None
        prefix = token_prefix(token)
        if prefix is not None:
            assert self.pool is not None
            async with self.pool.connection() as conn:
                cursor = await conn.execute(sql, [prefix])
                found = await cursor.fetchone()
            if found is not None and token_matches(token, found[0]):
                row = tuple(found[1:])
        self.auth_cache.put((kind, token), row, None if row else 2.0)
        return row

    async def _device_identity(self, token: str) -> DeviceIdentity:
        row = await self._lookup(
            "device",
            token,
            "SELECT c.token_hash, d.id, d.tenant_id, d.serial FROM devices_devicecredential c "
            "JOIN devices_device d ON d.id = c.device_id "
            "WHERE c.prefix = %s AND c.revoked_at IS NULL",
        )
        if row is None:
            raise HTTPError(401, "unknown or revoked device token")
        return DeviceIdentity(*row)

    async def _gateway_identity(self, key: str) -> GatewayIdentity:
        row = await self._lookup(
            "gateway",
            key,
            "SELECT token_hash, tenant_id FROM devices_ingestkey "
            "WHERE prefix = %s AND revoked_at IS NULL",
        )
        if row is None:
            raise HTTPError(401, "unknown or revoked ingestion key")
        return GatewayIdentity(*row)

    async def _serials(self, tenant_id: int, serials: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        missing = []
        for serial in serials:
            hit, device_id = self.serial_cache.get((tenant_id, serial))
            if hit and device_id is not None:
                found[serial] = device_id
            else:
                missing.append(serial)
        if missing:
            assert self.pool is not None
            async with self.pool.connection() as conn:
                cursor = await conn.execute(
                    "SELECT serial, id FROM devices_device WHERE tenant_id = %s "
                    "AND serial = ANY(%s::text[])",
                    [tenant_id, missing],
                )
                for serial, device_id in await cursor.fetchall():
                    found[serial] = device_id
                    self.serial_cache.put((tenant_id, serial), device_id)
        return found

    # --- rate limits ----------------------------------------------------------------------

    async def _rate_limit(self, *, tenant_id: int, device_ids: list[int], points: int) -> None:
        if self.redis is None:
            return
        second = int(time.time())
        try:
            pipe = self.redis.pipeline(transaction=False)
            for device_id in device_ids[:50]:
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
            raise HTTPError(
                429,
                f"more than {settings.INGEST_DEVICE_RATE} requests a second for this device",
                [(b"retry-after", b"1")],
            )
        if results[-2] > settings.INGEST_TENANT_RATE:
            raise HTTPError(
                429,
                f"more than {settings.INGEST_TENANT_RATE} points a second for this tenant",
                [(b"retry-after", b"1")],
            )

    # --- request handling -----------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
            return
        try:
            rpc = RPC_PATH.match(scope["path"])
            if rpc:
                await self._start()
                status, body = await self._rpc(scope, receive, rpc)
            else:
                if scope["method"] != "POST":
                    raise HTTPError(405, "use POST", [(b"allow", b"POST")])
                await self._start()
                status, body = await self._handle(scope, receive)
        except HTTPError as exc:
            await _respond(send, exc.status, {"detail": exc.message}, exc.headers)
            return
        except Exception:
            logger.exception("ingest storage failed")
            await _respond(
                send,
                503,
                {"detail": "storage unavailable; nothing was stored, retry"},
                [(b"retry-after", b"2")],
            )
            return
        await _respond(send, status, body)

    async def _rpc(
        self, scope: Scope, receive: Receive, match: "re.Match[str]"
    ) -> tuple[int, dict[str, Any]]:
        """``GET …/rpc?timeout=ms``: the next command (or 408 after the wait, as ThingsBoard
        answers); ``POST …/rpc/<id>``: the device's answer to it."""
        from devices.commands import command_answer, command_fetch

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        token = match.group(1) or _credential(headers, "Device")
        if not token:
            raise HTTPError(401, "missing credentials: send 'Authorization: Device <token>'")
        identity = await self._device_identity(token)
        command_id = match.group(2)
        if scope["method"] == "GET" and command_id is None:
            query = dict(
                part.partition("=")[::2]
                for part in scope.get("query_string", b"").decode().split("&")
                if part
            )
            try:
                wait_ms = min(max(int(query.get("timeout", "0") or 0), 0), RPC_MAX_WAIT_MS)
            except ValueError:
                raise HTTPError(400, "timeout: milliseconds, a whole number") from None
            deadline = time.monotonic() + wait_ms / 1000
            while True:
                command = await sync_to_async(command_fetch)(device_id=identity.device_id)
                if command is not None:
                    return 200, {
                        "id": command.id,
                        "method": command.kind,
                        "params": command.payload,
                    }
                if time.monotonic() >= deadline:
                    return 408, {"detail": "no command"}
                await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        if scope["method"] == "POST" and command_id is not None:
            body = (
                await _read_body(headers, receive)
                if headers.get("content-length") != "0"
                else b"{}"
            )
            answered = await sync_to_async(command_answer)(
                device_id=identity.device_id, command_id=int(command_id), response=_decode(body)
            )
            if answered is None:
                raise HTTPError(404, f"no open command {command_id} for this device")
            return 200, {"id": answered.id, "status": answered.status}
        raise HTTPError(
            405,
            "GET …/rpc to fetch a command, POST …/rpc/<id> to answer it",
            [(b"allow", b"GET, POST")],
        )

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any]]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        gateway = path == GATEWAY_PATH
        credential = _credential(headers, "Gateway" if gateway else "Device")
        match = TOKEN_PATH.match(path)
        if not gateway and match and path != INGEST_PATH:
            credential = match.group(1)
        if not credential:
            raise HTTPError(
                401,
                "missing credentials: send 'Authorization: "
                f"{'Gateway' if gateway else 'Device'} <token>' or 'X-API-Key'",
            )
        # Authenticate before reading the body: an unknown caller costs no parsing.
        identity: DeviceIdentity | GatewayIdentity = (
            await self._gateway_identity(credential)
            if gateway
            else await self._device_identity(credential)
        )
        body = await _read_body(headers, receive)
        payload = _decode(body)
        now = datetime.now(UTC)
        max_future = timedelta(seconds=settings.INGEST_MAX_FUTURE_SECONDS)
        rows: list[writer.Row] = []
        try:
            if isinstance(identity, DeviceIdentity):
                parsed = parse.parse_device(payload, now=now, max_future=max_future)
                _check_points(len(parsed.points) + parsed.rejected + parsed.duplicates)
                tenant_id = identity.tenant_id
                device_ids = [identity.device_id]
                rows = [(w, tenant_id, identity.device_id, m, v) for w, m, v in parsed.points]
            else:
                by_serial, parsed = parse.parse_gateway(payload, now=now, max_future=max_future)
                _check_points(len(parsed.points) + parsed.rejected + parsed.duplicates)
                tenant_id = identity.tenant_id
                known = await self._serials(tenant_id, list(by_serial))
                device_ids = list(known.values())
                for serial, points in by_serial.items():
                    device_id = known.get(serial)
                    if device_id is None:
                        parsed.reject(
                            f"unknown device serial {serial[:100]!r}",
                            device=serial,
                            count=len(points),
                        )
                        continue
                    rows.extend((w, tenant_id, device_id, m, v) for w, m, v in points)
        except parse.PayloadError as exc:
            raise HTTPError(400, str(exc)) from None
        if not rows:
            status = 200 if parsed.duplicates and not parsed.rejected else 400
            return status, _answer(0, parsed.duplicates, parsed)
        await self._rate_limit(tenant_id=tenant_id, device_ids=device_ids, points=len(rows))
        assert self.committer is not None
        stored, claimed = await self.committer.submit(rows)
        accepted, duplicate = _count(rows, stored, claimed)
        return 200, _answer(accepted, duplicate + parsed.duplicates, parsed)


def _credential(headers: dict[str, str], scheme: str) -> str | None:
    auth = headers.get("authorization", "")
    if auth:
        given, _, value = auth.partition(" ")
        if given.lower() in (scheme.lower(), "bearer") and value.strip():
            return value.strip()
    return headers.get("x-api-key", "").strip() or None


def _check_points(points: int) -> None:
    if points > settings.INGEST_MAX_POINTS:
        raise HTTPError(
            413,
            f"{points} points in one request; the limit is "
            f"{settings.INGEST_MAX_POINTS}: split the batch",
        )


async def _read_body(headers: dict[str, str], receive: Receive) -> bytes:
    limit = settings.INGEST_MAX_BODY_BYTES
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, f"body of {declared} bytes; the limit is {limit}")
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPError(400, "client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    if size == 0:
        raise HTTPError(400, "empty body: send a JSON object or array")
    return b"".join(chunks)


def _answer(accepted: int, duplicate: int, parsed: parse.Parsed) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "accepted": accepted,
        "duplicate": duplicate,
        "rejected": parsed.rejected,
    }
    if parsed.reasons:
        answer["errors"] = parsed.reasons
    return answer


async def _respond(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
