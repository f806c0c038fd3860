"""An HTTP POST in two halves around the commit point: the request line, headers and all but
the last byte of the body first; the server cannot act on a request it has not read to the end,
so the last byte goes only after the delivery records the hand-over."""

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import Commit, DeliveryError, Unconfirmed


@dataclass
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def post(url: str, body: bytes, headers: dict[str, str], commit: Commit, timeout: float) -> Reply:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError(f"Not an http(s) URL: {url}", permanent=True)
    conn_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_class(parts.hostname, parts.port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    try:
        try:
            conn.putrequest("POST", path)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                conn.putheader(name, value)
            conn.endheaders()
            conn.send(body[:-1])
        except OSError as exc:
            raise DeliveryError(f"{parts.hostname} unreachable: {exc}") from exc
        commit()
        try:
            conn.send(body[-1:])
            response = conn.getresponse()
            return Reply(response.status, response.read(64 * 1024))
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise Unconfirmed(f"{parts.hostname} did not answer the hand-over: {exc}") from exc
    finally:
        conn.close()


def refused(reply: Reply, what: str) -> DeliveryError:
    """A non-2xx answer as a delivery error: 4xx other than 408/429 are permanent."""
    detail = reply.body[:300].decode(errors="replace")
    data = reply.json()
    if isinstance(data, dict) and data.get("message"):
        detail = f"{data.get('code', '')} {data['message']}".strip()
    permanent = 400 <= reply.status < 500 and reply.status not in (408, 429)
    return DeliveryError(f"{what} answered {reply.status}: {detail}", permanent=permanent)
