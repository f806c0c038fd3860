"""WebSockets through the real ASGI server (uvicorn) and the real Redis channel layer."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.conf import settings
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from devices.models import Device
from iotplatform.live import Event, publish
from iotplatform.tenancy.models import Role, Tenant

from .. import factories, servers
from ..sockets import open_socket, receive, receive_frame, session_cookie

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server() -> Iterator[str]:
    with servers.asgi_server() as url:
        yield url


def test_group_message_reaches_the_tenants_socket_only(
    server: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    ours = factories.make_user(tenant, Role.VIEWER)
    theirs = factories.make_user(other_tenant, Role.VIEWER)
    with (
        open_socket(server, session_cookie(ours)) as a,
        open_socket(server, session_cookie(theirs)) as b,
    ):
        publish(tenant_id=tenant.id, event=Event.DEVICE_STATUS, data={"device": 1, "to": "anomaly"})
        assert receive(a) == {"type": "device.status", "data": {"device": 1, "to": "anomaly"}}
        with pytest.raises(TimeoutError):
            b.recv(timeout=1.0)
        # b's socket is alive: it does get its own tenant's messages.
        publish(tenant_id=other_tenant.id, event=Event.DEVICE_STATUS, data={"device": 2})
        assert receive(b)["data"] == {"device": 2}
        with pytest.raises(TimeoutError):
            a.recv(timeout=1.0)


def test_anonymous_socket_is_refused(server: str) -> None:
    with pytest.raises(InvalidStatus) as exc:
        open_socket(server)
    assert exc.value.response.status_code == 403


def test_socket_asking_for_a_foreign_tenant_is_refused(
    server: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    user = factories.make_user(tenant, Role.ADMIN)
    with pytest.raises(InvalidStatus) as exc:
        open_socket(server, session_cookie(user), query="?tenant=globex")
    assert exc.value.response.status_code == 403


def test_socket_from_another_origin_is_refused(server: str, tenant: Tenant) -> None:
    user = factories.make_user(tenant, Role.VIEWER)
    ws_url = server.replace("http://", "ws://") + "/ws/live/"
    with pytest.raises(InvalidStatus):
        connect(
            ws_url,
            additional_headers={"Origin": "http://evil.example", "Cookie": session_cookie(user)},
            open_timeout=10,
        )


def test_an_operator_action_is_pushed_live_after_commit(
    server: str, tenant: Tenant, device: Device
) -> None:
    factories.make_user(tenant, Role.OPERATOR, "op-live")
    watcher = factories.make_user(tenant, Role.VIEWER)
    with open_socket(server, session_cookie(watcher)) as ws:
        response = requests.post(
            f"{server}/api/v1/devices/{device.pk}/maintenance",
            json={"on": True},
            auth=("op-live", factories.PASSWORD),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        event = receive(ws)
        assert event["type"] == "device.status"
        assert event["data"] == {
            **event["data"],
            "device": device.pk,
            "from": "offline",
            "to": "maintenance",
            "reason": "maintenance on",
        }
        assert set(event["data"]) == {"device", "name", "from", "to", "at", "reason"}
        assert event["data"]["name"] == device.name


def test_pages_are_served_by_the_asgi_server(server: str, tenant: Tenant, device: Device) -> None:
    factories.make_user(tenant, Role.VIEWER, "page-viewer")
    session = requests.Session()
    login = session.get(f"{server}/accounts/login/", timeout=10)
    assert login.status_code == 200
    response = session.post(
        f"{server}/accounts/login/",
        data={
            "username": "page-viewer",
            "password": factories.PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{server}/accounts/login/"},
        timeout=10,
    )
    assert response.status_code == 200 and "Pump 1" in response.text
    css = session.get(f"{server}/static/frontend/site.css", timeout=10)
    assert css.status_code == 200 and "--bg" in css.text


def test_a_device_socket_gets_every_reading_of_its_device_only(
    server: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    from devices.services import device_create

    kind = factories.make_device_type(tenant)
    mine, token = device_create(tenant=tenant, device_type=kind, name="Watched", serial="W-1")
    _, other_token = device_create(tenant=tenant, device_type=kind, name="Other", serial="W-2")
    viewer = factories.make_user(tenant, Role.VIEWER)
    with open_socket(server, session_cookie(viewer), path=f"/ws/live/device/{mine.pk}/") as ws:
        time.sleep(1.5)  # ingestion learns the watched devices once a second
        for value in (1.0, 2.0, 3.0):
            for device_token in (token, other_token):
                response = requests.post(
                    f"{server}/api/v1/ingest",
                    json={"temperature": value},
                    headers={"Authorization": f"Device {device_token}"},
                    timeout=10,
                )
                assert response.status_code == 200, response.text
        got: list[float] = []
        deadline = time.monotonic() + 5
        while len(got) < 3 and time.monotonic() < deadline:
            frame = receive_frame(ws)
            for event in frame["events"]:
                assert event["type"] != "telemetry"  # the fleet's latest: not for this page
                if event["type"] == "device.telemetry":
                    assert event["data"]["device"] == mine.pk
                    got += [point[1] for point in event["data"]["points"]["temperature"]]
        assert got == [1.0, 2.0, 3.0]  # every point, in order — not only the newest


def test_a_socket_for_another_tenants_device_is_refused(
    server: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = factories.make_device(other_tenant)
    user = factories.make_user(tenant, Role.ADMIN)
    for path in (f"/ws/live/device/{theirs.pk}/", "/ws/live/device/999999/"):
        with pytest.raises(InvalidStatus) as exc:
            open_socket(server, session_cookie(user), path=path)
        assert exc.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        open_socket(server, path=f"/ws/live/device/{theirs.pk}/")  # anonymous


def test_a_burst_reaches_a_page_as_a_few_merged_frames(server: str, tenant: Tenant) -> None:
    viewer = factories.make_user(tenant, Role.VIEWER)
    with open_socket(server, session_cookie(viewer)) as ws:
        began = time.monotonic()
        for i in range(200):
            publish(
                tenant_id=tenant.id,
                event=Event.DEVICE_STATUS,
                data={"device": i % 20, "from": "healthy" if i < 20 else "x", "to": f"s{i}"},
            )
        publishing = time.monotonic() - began
        frames = []
        statuses: dict[int, dict[str, Any]] = {}
        while len(statuses) < 20 or any(s["to"] != f"s{180 + d}" for d, s in statuses.items()):
            frame = receive_frame(ws)
            frames.append(frame)
            for event in frame["events"]:
                statuses[event["data"]["device"]] = event["data"]
        # 200 events (collapsed per device) in a handful of frames, not 200 messages: at most
        # one frame per page interval while they were sent (0.25 s; a busy machine sends them
        # more slowly), and the last ones after.
        interval = settings.LIVE_PAGE_INTERVAL
        assert len(frames) <= 6 + publishing / interval and len(frames) < 40, (
            len(frames),
            publishing,
        )
        assert statuses[3]["to"] == "s183"
        with pytest.raises(TimeoutError):
            ws.recv(timeout=1.0)


@pytest.mark.parametrize("page", ["tenant", "device"])
def test_an_idle_socket_stays_open(server: str, tenant: Tenant, device: Device, page: str) -> None:
    viewer = factories.make_user(tenant, Role.VIEWER)
    path = f"/ws/live/device/{device.pk}/" if page == "device" else "/ws/live/"
    with open_socket(server, session_cookie(viewer), path=path) as ws:
        time.sleep(7)  # longer than the channel layer's blocking pop (5 s)
        publish(tenant_id=tenant.id, event=Event.DEVICE_STATUS, data={"device": device.pk})
        assert receive(ws)["data"] == {"device": device.pk}
