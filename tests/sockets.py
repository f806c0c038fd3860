"""Page sockets against a real ASGI server (``servers.asgi_server``): open, sign in, receive."""

import json
from typing import Any

from django.test import Client
from websockets.sync.client import ClientConnection, connect


def session_cookie(user: Any) -> str:
    """A new signed-in session of ``user`` (one browser), as a Cookie header."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def open_socket(
    url: str, cookie: str | None = None, query: str = "", path: str = "/ws/live/"
) -> ClientConnection:
    ws_url = url.replace("http://", "ws://") + path + query
    headers = {"Origin": url}
    if cookie:
        headers["Cookie"] = cookie
    return connect(ws_url, additional_headers=headers, open_timeout=10)


def receive_frame(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return frame


def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next event: pages get their events in batch frames; the tests send one at a time."""
    frame = receive_frame(ws, timeout)
    assert frame["type"] == "batch" and len(frame["events"]) == 1, frame
    event: dict[str, Any] = frame["events"][0]
    return event
