"""HTTP transport of the simulator: a small keep-alive asyncio client and an on-disk spool.

The client is deliberately minimal (HTTP/1.1, JSON bodies, Content-Length answers): one process
must drive ten thousand devices on one core. The spool makes delivery store-and-forward: once a
send fails (no connection, 5xx, 429), that request and every later one go to append-only files
on disk, in order, until a drainer has resent them all; a platform restart loses nothing, and a
resend of something already stored is harmless (readings are unique per device, metric, time).
"""

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger("simulator")


class TransportError(Exception):
    """The platform did not take the request; it should be retried later."""


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class HTTPClient:
    """Keep-alive HTTP/1.1 client with a fixed number of connections."""

    def __init__(self, base_url: str, connections: int = 16, timeout: float = 10.0):
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError("only http:// is supported by the simulator's transport")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = (
            asyncio.Queue()
        )
        for _ in range(connections):
            self.pool.put_nowait(None)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Answer:
        head = [
            f"{method} {self.prefix}{path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
            "Content-Type: application/json",
        ]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        message = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        conn = await self.pool.get()
        # A kept-alive connection the server has closed meanwhile fails at once: retry that
        # once on a fresh connection (sending readings twice is harmless anyway).
        for attempt in (0, 1):
            reused = conn is not None
            try:
                if conn is None:
                    conn = await asyncio.wait_for(
                        asyncio.open_connection(self.host, self.port), self.timeout
                    )
                conn[1].write(message)
                answer = await asyncio.wait_for(self._read(conn[0]), self.timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                if conn is not None:
                    conn[1].close()
                conn = None
                if reused and attempt == 0 and not isinstance(exc, TimeoutError):
                    continue
                self.pool.put_nowait(None)
                raise TransportError(f"{type(exc).__name__}: {exc}") from None
            self.pool.put_nowait(conn)
            return answer
        raise AssertionError("unreachable")

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Answer:
        status_line = await reader.readline()
        if not status_line:
            raise asyncio.IncompleteReadError(b"", None)
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        return Answer(status, await reader.readexactly(length) if length else b"")

    async def close(self) -> None:
        while not self.pool.empty():
            conn = self.pool.get_nowait()
            if conn is not None:
                conn[1].close()


class Spool:
    """Append-only segment files of pending requests, consumed in order."""

    SEGMENT_LINES = 5000

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lines_in_current = 0
        self._current: Path | None = None

    def _segments(self) -> list[Path]:
        return sorted(self.directory.glob("*.jsonl"))

    def __len__(self) -> int:
        return sum(1 for s in self._segments() for _ in s.open())

    def empty(self) -> bool:
        return not self._segments()

    def append(self, serial: str, body: bytes) -> None:
        if self._current is None or self._lines_in_current >= self.SEGMENT_LINES:
            number = len(self._segments()) and int(self._segments()[-1].stem) + 1
            self._current = self.directory / f"{number:012d}.jsonl"
            self._lines_in_current = 0
        with self._current.open("a") as handle:
            handle.write(json.dumps({"serial": serial, "body": body.decode()}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._lines_in_current += 1

    def oldest(self) -> tuple[Path, list[dict[str, str]]] | None:
        """The oldest segment and its entries (the segment stays until ``done``)."""
        segments = self._segments()
        if not segments:
            return None
        if segments[0] == self._current:
            self._current = None  # start a new segment for what comes next
        with segments[0].open() as handle:
            return segments[0], [json.loads(line) for line in handle if line.strip()]

    def done(self, segment: Path) -> None:
        segment.unlink(missing_ok=True)

    def __iter__(self) -> Iterator[dict[str, str]]:
        for segment in self._segments():
            with segment.open() as handle:
                for line in handle:
                    yield json.loads(line)


RETRY_STATUSES = {429, 500, 502, 503, 504}


async def tokens_load(
    client: HTTPClient,
    *,
    state_dir: Path,
    tokens_file: str | None,
    tenant_key: str | None,
    specs: list[Any],
) -> dict[str, str]:
    """Each device's token by serial: from ``tokens_file`` (``serial token`` lines), or kept in
    ``tokens.json`` of the state directory; the devices without one are provisioned through
    ``/api/v1/provision`` with the tenant's ingestion key (and kept)."""
    tokens: dict[str, str] = {}
    store = state_dir / "tokens.json"
    if tokens_file:
        for line in Path(tokens_file).read_text().splitlines():
            if line.strip():
                serial, token = line.split()
                tokens[serial] = token
    elif store.exists():
        tokens = json.loads(store.read_text())
    missing = [s for s in specs if s.serial not in tokens]
    if not missing:
        return tokens
    if not tenant_key:
        raise SystemExit(f"{len(missing)} device(s) have no token: give --tenant-key or --tokens")
    for first in range(0, len(missing), 500):
        chunk = missing[first : first + 500]
        body = json.dumps(
            {
                "devices": [
                    {"serial": s.serial, "type": s.kind, "name": s.name, "location": s.location}
                    for s in chunk
                ]
            }
        ).encode()
        for attempt in range(60):
            try:
                answer = await client.request(
                    "POST", "/api/v1/provision", body, {"Authorization": f"Gateway {tenant_key}"}
                )
            except TransportError as exc:
                answer = None
                logger.warning("provisioning: platform unreachable (%s); retrying", exc)
            if answer is not None and answer.status == 200:
                break
            if answer is not None and answer.status not in RETRY_STATUSES:
                raise SystemExit(f"provisioning refused: {answer.status} {answer.body[:300]!r}")
            await asyncio.sleep(min(2 + attempt, 10))
        else:
            raise SystemExit("provisioning: the platform did not answer")
        for device in answer.json()["devices"]:
            tokens[device["serial"]] = device["token"]
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(tokens))
    logger.info("provisioned %d device(s)", len(missing))
    return tokens
