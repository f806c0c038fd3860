"""Open sockets do not outlive access: sign-out, membership removal, deactivation, role loss.

Through the real ASGI server (uvicorn) and the real Redis channel layer. The server re-checks
access periodically only every 30 s (the default), so a socket closed within a few seconds was
closed by the revoke message; the periodic re-check has its own server and test.
"""

import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import requests
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from iotplatform.live import CloseCode, Event, publish
from iotplatform.tenancy.models import Membership, Role, Tenant
from iotplatform.tenancy.scoping import TenantConsumer
from iotplatform.tenancy.services import membership_remove, membership_set

from .. import factories, servers
from ..sockets import open_socket, receive, session_cookie

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLOSE_WITHIN = 3.0  # seconds: far below the periodic re-check of the server fixture (30 s)


@pytest.fixture(scope="module")
def server(django_db_setup: None) -> Iterator[str]:
    with servers.asgi_server() as url:
        yield url


def assert_closed(ws: ClientConnection, code: int, within: float = CLOSE_WITHIN) -> None:
    """The socket closes with ``code`` within ``within`` seconds, sending nothing before."""
    with pytest.raises(ConnectionClosed) as exc:
        frame = ws.recv(timeout=within)
        pytest.fail(f"got {frame!r} instead of a close")
    assert exc.value.rcvd is not None and exc.value.rcvd.code == code


def assert_live(ws: ClientConnection, tenant: Tenant, device: int = 1) -> None:
    """The socket is open and still gets its tenant's events."""
    publish(tenant_id=tenant.id, event=Event.DEVICE_STATUS, data={"device": device})
    assert receive(ws)["data"] == {"device": device}


def sign_in(server: str, username: str) -> requests.Session:
    """A browser signed in through the login form."""
    browser = requests.Session()
    browser.get(f"{server}/accounts/login/", timeout=10)
    response = browser.post(
        f"{server}/accounts/login/",
        data={
            "username": username,
            "password": factories.PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        headers={"Referer": f"{server}/accounts/login/"},
        timeout=10,
    )
    assert response.status_code == 200 and "sessionid" in browser.cookies
    return browser


def test_signing_out_closes_that_sessions_sockets_only(server: str, tenant: Tenant) -> None:
    factories.make_user(tenant, Role.VIEWER, "vic")
    browser = sign_in(server, "vic")
    other_browser = session_cookie(get_user_model().objects.get(username="vic"))
    with (
        open_socket(server, f"sessionid={browser.cookies['sessionid']}") as ws,
        open_socket(server, other_browser) as other,
    ):
        assert_live(ws, tenant)
        assert receive(other)["data"] == {"device": 1}
        response = browser.post(
            f"{server}/accounts/logout/",
            data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            headers={"Referer": f"{server}/"},
            timeout=10,
        )
        assert response.status_code == 200
        publish(tenant_id=tenant.id, event=Event.DEVICE_STATUS, data={"device": 2})
        assert_closed(ws, CloseCode.SIGNED_OUT)
        # The same person's other browser is still signed in: its socket stays and gets data.
        assert receive(other)["data"] == {"device": 2}
        time.sleep(1)
        assert_live(other, tenant, device=3)


def test_removal_from_the_tenant_closes_its_sockets_not_those_in_another(
    server: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    user = factories.make_user(tenant, Role.VIEWER)
    membership_set(tenant=other_tenant, user=user, role=Role.VIEWER)
    cookie = session_cookie(user)
    with (
        open_socket(server, cookie, query="?tenant=acme") as in_a,
        open_socket(server, cookie, query="?tenant=globex") as in_b,
    ):
        assert membership_remove(tenant=tenant, user=user)
        publish(tenant_id=tenant.id, event=Event.DEVICE_STATUS, data={"device": 1})
        assert_closed(in_a, CloseCode.FORBIDDEN)
        time.sleep(1)
        assert_live(in_b, other_tenant)


def test_a_membership_deleted_in_the_django_admin_closes_the_socket(
    server: str, tenant: Tenant
) -> None:
    viewer = factories.make_user(tenant, Role.VIEWER)
    root = get_user_model().objects.create_superuser("root", password="root-pass-123456")
    admin = Client()
    admin.force_login(root)
    membership = Membership.objects.get(user=viewer, tenant=tenant)
    with open_socket(server, session_cookie(viewer)) as ws:
        response = admin.post(f"/admin/tenancy/membership/{membership.pk}/delete/", {"post": "yes"})
        assert response.status_code == 302 and not Membership.objects.filter(user=viewer).exists()
        assert_closed(ws, CloseCode.FORBIDDEN)


def test_deactivation_closes_every_socket_of_the_person(
    server: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    user = factories.make_user(tenant, Role.OPERATOR)
    membership_set(tenant=other_tenant, user=user, role=Role.VIEWER)
    with (
        open_socket(server, session_cookie(user)) as first,
        open_socket(server, session_cookie(user), query="?tenant=globex") as second,
    ):
        user.is_active = False
        user.save()
        publish(tenant_id=tenant.id, event=Event.DEVICE_STATUS, data={"device": 1})
        assert_closed(first, CloseCode.SIGNED_OUT)
        assert_closed(second, CloseCode.SIGNED_OUT)


def test_a_new_password_closes_the_other_sessions_sockets(server: str, tenant: Tenant) -> None:
    user = factories.make_user(tenant, Role.VIEWER)
    with open_socket(server, session_cookie(user)) as ws:
        user.set_password("another-horse-battery-7")
        user.save()
        assert_closed(ws, CloseCode.SIGNED_OUT)


def test_a_role_change_that_still_allows_viewing_keeps_the_socket(
    server: str, tenant: Tenant, device: Any
) -> None:
    user = factories.make_user(tenant, Role.ADMIN)
    other_person = factories.make_user(tenant, Role.VIEWER)
    for path in ("/ws/live/", f"/ws/live/device/{device.pk}/"):
        with (
            open_socket(server, session_cookie(user), path=path) as ws,
            open_socket(server, session_cookie(other_person), path=path) as bystander,
        ):
            membership_set(tenant=tenant, user=user, role=Role.VIEWER)
            membership_remove(tenant=tenant, user=factories.make_user(tenant))  # someone else
            time.sleep(CLOSE_WITHIN)
            assert_live(ws, tenant, device=device.pk)
            assert receive(bystander)["data"] == {"device": device.pk}
        membership_set(tenant=tenant, user=user, role=Role.ADMIN)


def test_a_lost_revoke_is_caught_by_the_periodic_recheck(tenant: Tenant) -> None:
    """A session deleted behind Django's back sends no signal: the periodic check closes it."""
    user = factories.make_user(tenant, Role.VIEWER)
    cookie = session_cookie(user)
    kept = session_cookie(user)
    with (
        servers.asgi_server(LIVE_ACCESS_RECHECK_SECONDS="1") as server,
        open_socket(server, cookie) as ws,
        open_socket(server, kept) as alive,
    ):
        Session.objects.filter(session_key=cookie.removeprefix("sessionid=")).delete()
        assert_closed(ws, CloseCode.SIGNED_OUT, within=5)
        assert_live(alive, tenant)


# --- role loss, for a consumer that needs more than viewing -----------------------------------
# The pages' consumers only need the viewer role (which every member has), so a role change never
# closes them; a consumer with a higher ``role`` is closed when its person falls below it.


class OperatorConsumer(TenantConsumer):
    role: ClassVar[str] = Role.OPERATOR


def test_a_consumer_needing_operators_closes_when_the_role_is_lost(tenant: Tenant) -> None:
    user = factories.make_user(tenant, Role.ADMIN)
    cookie = session_cookie(user)
    application = AuthMiddlewareStack(OperatorConsumer.as_asgi())

    async def scenario() -> None:
        # channels.testing needs daphne; its WebsocketCommunicator is this, spelled out.
        scope = {
            "type": "websocket",
            "path": "/ws/test/",
            "query_string": b"",
            "headers": [(b"cookie", cookie.encode())],
            "subprotocols": [],
        }
        socket = ApplicationCommunicator(application, scope)
        await socket.send_input({"type": "websocket.connect"})
        assert (await socket.receive_output(timeout=5))["type"] == "websocket.accept"
        await database_sync_to_async(membership_set)(tenant=tenant, user=user, role=Role.OPERATOR)
        assert await socket.receive_nothing(timeout=CLOSE_WITHIN)  # operators still may
        await database_sync_to_async(membership_set)(tenant=tenant, user=user, role=Role.VIEWER)
        closed = await socket.receive_output(timeout=CLOSE_WITHIN)
        assert closed["type"] == "websocket.close" and closed["code"] == CloseCode.FORBIDDEN
        await socket.send_input({"type": "websocket.disconnect", "code": closed["code"]})
        await socket.wait(timeout=5)

    async_to_sync(scenario)()
