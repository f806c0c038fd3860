"""The web server: uvicorn with deadlines for slow clients.

uvicorn gives a connection all the time it wants until its first request is complete: 250 slow
connections (200 of them never finishing their headers, so never authenticating) all stayed
open for 40 s in a test. :class:`GuardedHttpToolsProtocol` adds what a reverse proxy would:

- the request line and headers must arrive within ``HTTP_HEADER_TIMEOUT`` seconds (10) of the
  connection or of the request's first byte;
- the body within ``HTTP_BODY_TIMEOUT`` seconds (30) of the headers;
- at most ``HTTP_MAX_PENDING`` connections (256 per process) may be waiting for their headers:
  beyond, the one waiting longest is closed (a slow attacker's, not the prompt client's).

A request past a deadline is answered ``408 Request Timeout`` and the connection closed. WebSocket
upgrades and long polls are not affected: their request is complete when their wait begins.

Its processes also bound database work (``DB_STATEMENT_TIMEOUT_MS`` 15 s, ``DB_LOCK_TIMEOUT_MS``
3 s unless set): a locked table or a runaway query is a 503 in bounded time.

    python -m iotplatform.server [--host H] [--port P] [--workers N]
"""

import argparse
import asyncio
import os
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = float(os.environ.get("HTTP_HEADER_TIMEOUT", "10"))
BODY_TIMEOUT = float(os.environ.get("HTTP_BODY_TIMEOUT", "30"))
MAX_PENDING = int(os.environ.get("HTTP_MAX_PENDING", "256"))
TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    # Connections of this process waiting for their headers, oldest first.
    waiting: ClassVar[dict["GuardedHttpToolsProtocol", None]] = {}

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        while len(self.waiting) >= MAX_PENDING:
            next(iter(self.waiting))._expired()
        self._arm(HEADER_TIMEOUT, waiting=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(HEADER_TIMEOUT, waiting=True)  # a kept-alive connection's next request

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if not self.parser.should_upgrade():
            self._arm(BODY_TIMEOUT, waiting=False)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float, *, waiting: bool) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)
        if waiting:
            self.waiting[self] = None

    def _disarm(self) -> None:
        self.waiting.pop(self, None)
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(TIMED_OUT)
        self.transport.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve iotplatform.asgi:application.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    # The web processes' bounds on a statement and on waiting for a lock (ms): see settings.
    os.environ.setdefault("DB_STATEMENT_TIMEOUT_MS", "15000")
    os.environ.setdefault("DB_LOCK_TIMEOUT_MS", "3000")
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "http": "iotplatform.server:GuardedHttpToolsProtocol",
        "access_log": False,
        "log_level": args.log_level,
    }
    uvicorn.run("iotplatform.asgi:application", **options)


if __name__ == "__main__":
    main()
