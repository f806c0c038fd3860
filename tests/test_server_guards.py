"""The web server's deadlines for slow clients (iotplatform.server), against the real server."""

import socket
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import requests

from devices.services import device_create, device_types_install_catalog
from iotplatform.database import conninfo
from iotplatform.tenancy.models import Tenant

from . import servers
from .sockets import open_socket, session_cookie

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup: None) -> Iterator[str]:  # the test database exists first
    with servers.asgi_server(
        HTTP_HEADER_TIMEOUT="1", HTTP_BODY_TIMEOUT="1", HTTP_MAX_PENDING="5"
    ) as url:
        yield url


def _open(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or 5 s pass)."""
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except TimeoutError:
        pass
    return data


def test_headers_that_never_finish_get_408_and_the_connection_closed(server: str) -> None:
    sock = _open(server)
    sock.sendall(b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthori")
    started = time.monotonic()
    answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < 4


def test_a_body_that_never_finishes_gets_408(server: str) -> None:
    sock = _open(server)
    sock.sendall(
        b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Device nope\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"t":'
    )
    answer = _answer(sock)
    # The ingest app answers an unknown token before reading the body; either way, closed fast.
    assert answer.startswith((b"HTTP/1.1 408", b"HTTP/1.1 401")), answer
    sock = _open(server)
    sock.sendall(
        b"POST /accounts/login/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nusername="
    )
    assert _answer(sock).startswith(b"HTTP/1.1 408")


def test_silent_connections_cannot_crowd_out_a_prompt_client(server: str) -> None:
    silent = [_open(server) for _ in range(20)]
    time.sleep(0.3)
    assert requests.get(f"{server}/healthz", timeout=5).status_code == 200
    # Over the cap of 5 waiting, the longest-waiting were closed at once (not after 1 s).
    for sock in silent[:14]:
        sock.settimeout(0.5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 408")
    for sock in silent:
        sock.close()


def test_long_polls_and_websockets_outlive_the_deadlines(
    server: str, tenant: Tenant, viewer: Any
) -> None:
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    _, token = device_create(tenant=tenant, device_type=types["pump"], name="P", serial="P-1")
    started = time.monotonic()
    poll = requests.get(f"{server}/api/v1/{token}/rpc?timeout=2500", timeout=10)
    assert poll.status_code == 408 and poll.json() == {"detail": "no command"}
    assert time.monotonic() - started >= 2.4
    with open_socket(server, session_cookie(viewer)) as ws:
        time.sleep(2.5)  # past both deadlines
        ws.ping().wait(timeout=5)  # still open


def test_a_locked_table_is_a_503_in_bounded_time(server: str, tenant: Tenant, viewer: Any) -> None:
    """The server's processes bound lock waits (DB_LOCK_TIMEOUT_MS, 3 s by default)."""
    cookie = session_cookie(viewer)
    with psycopg.connect(conninfo(application_name="test-locker")) as locker:
        locker.execute("LOCK TABLE devices_device IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = requests.get(f"{server}/api/v1/devices", headers={"Cookie": cookie}, timeout=30)
        waited = time.monotonic() - started
        locker.rollback()
    assert response.status_code == 503, response.text[:300]
    assert "locked" in response.json()["detail"] and response.headers["Retry-After"] == "5"
    assert waited < 10
    assert requests.get(f"{server}/api/v1/devices", headers={"Cookie": cookie}, timeout=30).ok
