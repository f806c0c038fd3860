"""The HTTP transport: a light ASGI application for the device endpoints, placed ahead of
Django in the router (``iotplatform.asgi``). It only speaks HTTP; everything else is the
transport-free pipeline (``pipeline``) and RPC (``rpc``).

Why not a Django view: Django's per-request machinery and a commit per request cap a small
device's one-reading requests at about 1,000 a second on two cores. Here a request costs a JSON
parse, a cached token check, one Redis round trip for rate limits and a place in a group commit.

Endpoints (also described in the OpenAPI document, ``openapi``):

- ``POST /api/v1/ingest`` with ``Authorization: Device <token>`` or ``X-API-Key: <token>``;
- ``POST /api/v1/<token>/telemetry``: ThingsBoard's device API, unchanged firmware works;
- ``POST /api/v1/gateway/telemetry`` with the tenant's ingestion key (``Authorization: Gateway
  <key>`` or ``X-API-Key``): ``{"<device serial>": [{"ts": …, "values": {…}}, …]}``;
- ``GET /api/v1/[<token>/]rpc?timeout=ms`` and ``POST /api/v1/[<token>/]rpc/<id>``: ThingsBoard's
  server-side RPC (long poll for a command, answer it).

Answers: 200 ``{"accepted", "duplicate", "rejected", "errors"}`` (400 when nothing could be
stored), 400 malformed JSON, 401 bad credentials (with WWW-Authenticate), 413 too large, 429
rate limited (with Retry-After), 503 storage unavailable (retry; nothing was stored). No input
gives a 500.
"""

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from django.conf import settings

from . import parse, rpc
from .errors import IngestError, too_large, unauthorized, unavailable
from .limits import check_keys
from .pipeline import IngestPipeline

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

INGEST_PATH = "/api/v1/ingest"
GATEWAY_PATH = "/api/v1/gateway/telemetry"
TOKEN_PATH = re.compile(r"^/api/v1/([^/]{1,128})/telemetry/?$")
RPC_PATH = re.compile(r"^/api/v1/(?:([^/]{1,128})/)?rpc(?:/(\d{1,18}))?/?$")


class HTTPError(IngestError):
    """An error of the HTTP layer itself (method, missing credentials), with extra headers."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]]):
        super().__init__(status, message)
        self.headers = headers


class IngestHTTPApp:
    """ASGI app for the device endpoints; one instance per server process."""

    def __init__(self, pipeline: IngestPipeline | None = None) -> None:
        self.pipeline = pipeline or IngestPipeline()

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

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.pipeline.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
            return
        try:
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            rpc_match = RPC_PATH.match(scope["path"])
            if rpc_match:
                status, body = await self._rpc(scope, headers, receive, rpc_match)
            else:
                if scope["method"] != "POST":
                    raise HTTPError(405, "use POST", [(b"allow", b"POST")])
                status, body = await self._telemetry(scope, headers, receive)
        except IngestError as exc:
            extra = list(getattr(exc, "headers", []))
            if exc.retry_after is not None:
                extra.append((b"retry-after", str(exc.retry_after).encode()))
            if exc.status == 401:  # a 401 names the scheme the caller should have used
                extra.append((b"www-authenticate", _challenge(scope["path"])))
            await _respond(send, exc.status, {"detail": exc.message}, extra)
            return
        except Exception:
            logger.exception("ingest request failed")
            error = unavailable()
            await _respond(
                send,
                error.status,
                {"detail": error.message},
                [(b"retry-after", str(error.retry_after).encode())],
            )
            return
        await _respond(send, status, body)

    async def _telemetry(
        self, scope: Scope, headers: dict[str, str], receive: Receive
    ) -> tuple[int, dict[str, Any]]:
        path = scope["path"]
        gateway = path == GATEWAY_PATH
        scheme = "Gateway" if gateway else "Device"
        credential = _credential(headers, scheme)
        match = TOKEN_PATH.match(path)
        if not gateway and match and path != INGEST_PATH:
            credential = match.group(1)
        if not credential:
            raise unauthorized(
                f"missing credentials: send 'Authorization: {scheme} <token>' or 'X-API-Key'"
            )
        # Authenticate before reading the body: an unknown caller costs no parsing.
        identity = await (
            self.pipeline.authenticate_gateway(credential)
            if gateway
            else self.pipeline.authenticate_device(credential)
        )
        self.pipeline.limiter_check_blocked(identity)
        try:
            body = await _read_body(headers, receive, count_keys=True)
        except IngestError as exc:
            if exc.status == 413:
                await self.pipeline.count_refused(identity)
            raise
        result = await self.pipeline.ingest_body(identity, body)
        return result.status, result.answer()

    async def _rpc(
        self, scope: Scope, headers: dict[str, str], receive: Receive, match: "re.Match[str]"
    ) -> tuple[int, dict[str, Any]]:
        """``GET …/rpc?timeout=ms``: the next command (or 408 after the wait, as ThingsBoard
        answers); ``POST …/rpc/<id>``: the device's answer to it."""
        token = match.group(1) or _credential(headers, "Device")
        if not token:
            raise unauthorized("missing credentials: send 'Authorization: Device <token>'")
        identity = await self.pipeline.authenticate_device(token)
        command_id = match.group(2)
        if scope["method"] == "GET" and command_id is None:
            query = dict(
                part.partition("=")[::2]
                for part in scope.get("query_string", b"").decode().split("&")
                if part
            )
            try:
                wait_ms = int(query.get("timeout", "0") or 0)
            except ValueError:
                raise IngestError(400, "timeout: milliseconds, a whole number") from None
            command = await rpc.rpc_next(identity, wait_ms=wait_ms)
            return (200, command) if command is not None else (408, {"detail": "no command"})
        if scope["method"] == "POST" and command_id is not None:
            body = (
                await _read_body(headers, receive)
                if headers.get("content-length") != "0"
                else b"{}"
            )
            answer = await rpc.rpc_answer(
                identity, command_id=int(command_id), response=_decode(body)
            )
            return 200, answer
        raise HTTPError(
            405,
            "GET …/rpc to fetch a command, POST …/rpc/<id> to answer it",
            [(b"allow", b"GET, POST")],
        )


def _challenge(path: str) -> bytes:
    if path == GATEWAY_PATH:
        return b'Gateway realm="ingestion key"'
    return b'Device realm="device token"'


def _credential(headers: dict[str, str], scheme: str) -> str | None:
    auth = headers.get("authorization", "")
    if auth:
        given, _, value = auth.partition(" ")
        if given.lower() in (scheme.lower(), "bearer") and value.strip():
            return value.strip()
    return headers.get("x-api-key", "").strip() or None


def _decode(body: bytes) -> Any:
    try:
        return parse.decode(body)
    except parse.PayloadError as exc:
        raise IngestError(400, str(exc)) from None


async def _read_body(
    headers: dict[str, str], receive: Receive, *, count_keys: bool = False
) -> bytes:
    """The request body; 413 as soon as it is over the size limit or (``count_keys``) holds
    more keys than an acceptable message could — before the rest is even read."""
    limit = settings.INGEST_MAX_BODY_BYTES
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(f"body of {declared} bytes; the limit is {limit}")
    chunks = []
    size = 0
    colons = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise IngestError(400, "client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(f"body over {limit} bytes")
        if count_keys:
            colons += chunk.count(b":")
            check_keys(colons)
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    if size == 0:
        raise IngestError(400, "empty body: send a JSON object or array")
    return b"".join(chunks)


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
                (b"x-content-type-options", b"nosniff"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
