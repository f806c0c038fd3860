"""Device ingestion through the real ASGI server into the real database."""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from django.db import connection
from websockets.sync.client import connect

from devices.models import Device, DeviceStatus, DeviceStatusChange
from devices.services import (
    device_create,
    device_token_revoke,
    device_token_rotate,
    device_types_install_catalog,
    ingest_key_create,
)
from iotplatform.tenancy.models import Role, Tenant
from telemetry.models import LatestReading, Reading

from .. import factories, servers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    # No credential caching in tests: revocation must show at once.
    with servers.asgi_server(INGEST_AUTH_CACHE_SECONDS="0") as url:
        yield url


@pytest.fixture
def pump(tenant: Tenant) -> tuple[Device, str]:
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    return device_create(tenant=tenant, device_type=types["pump"], name="Pump 1", serial="P-1")


def post(
    url: str,
    body: Any,
    *,
    token: str | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Device {token}"
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(url, data=data, headers=all_headers, timeout=30)


def stored(device: Device) -> list[tuple[datetime, str, float]]:
    return list(
        Reading.objects.filter(device=device)
        .order_by("time", "metric")
        .values_list("time", "metric", "value")
    )


class TestShapes:
    def test_flat_object_at_server_time(self, server: str, pump: tuple[Device, str]) -> None:
        device, token = pump
        before = datetime.now(UTC)
        response = post(
            f"{server}/api/v1/ingest", {"temperature": 71.2, "vibration": 0.4}, token=token
        )
        assert response.status_code == 200
        assert response.json() == {"accepted": 2, "duplicate": 0, "rejected": 0}
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        rows = stored(device)
        assert [(m, v) for _, m, v in rows] == [("temperature", 71.2), ("vibration", 0.4)]
        assert all(before - timedelta(seconds=1) <= t <= datetime.now(UTC) for t, _, _ in rows)

    def test_timestamped_array_with_iso_and_millis(
        self, server: str, pump: tuple[Device, str]
    ) -> None:
        device, token = pump
        body = [
            {"ts": T0_MS, "values": {"temperature": 70}},
            {"ts": "2026-01-05T12:00:01+00:00", "values": {"temperature": 70.5, "flow": 12}},
            {"ts": T0_MS + 2500, "values": {"temperature": 71}},
        ]
        response = post(f"{server}/api/v1/{token}/telemetry", body)  # ThingsBoard's path
        assert response.json() == {"accepted": 4, "duplicate": 0, "rejected": 0}
        assert stored(device) == [
            (T0, "temperature", 70.0),
            (T0 + timedelta(seconds=1), "flow", 12.0),
            (T0 + timedelta(seconds=1), "temperature", 70.5),
            (T0 + timedelta(milliseconds=2500), "temperature", 71.0),
        ]
        latest = LatestReading.objects.get(device=device, metric="temperature")
        assert (latest.time, latest.value) == (T0 + timedelta(milliseconds=2500), 71.0)

    def test_x_api_key_and_single_timestamped_object(
        self, server: str, pump: tuple[Device, str]
    ) -> None:
        device, token = pump
        response = post(
            f"{server}/api/v1/ingest",
            {"ts": T0_MS, "values": {"pressure": 6.5}},
            headers={"X-API-Key": token},
        )
        assert response.json()["accepted"] == 1
        assert stored(device) == [(T0, "pressure", 6.5)]

    def test_undeclared_metric_is_stored(self, server: str, pump: tuple[Device, str]) -> None:
        device, token = pump
        post(f"{server}/api/v1/ingest", {"ts": T0_MS, "values": {"oil_level": 0.8}}, token=token)
        assert stored(device) == [(T0, "oil_level", 0.8)]


class TestIdempotence:
    def test_resend_stores_nothing_twice(self, server: str, pump: tuple[Device, str]) -> None:
        device, token = pump
        body = [{"ts": T0_MS + i * 1000, "values": {"temperature": 60 + i}} for i in range(50)]
        first = post(f"{server}/api/v1/ingest", body, token=token).json()
        again = post(f"{server}/api/v1/ingest", body, token=token).json()
        assert first == {"accepted": 50, "duplicate": 0, "rejected": 0}
        assert again == {"accepted": 0, "duplicate": 50, "rejected": 0}
        assert len(stored(device)) == 50

    def test_partial_resend_and_duplicates_within_a_request(
        self, server: str, pump: tuple[Device, str]
    ) -> None:
        device, token = pump
        post(f"{server}/api/v1/ingest", {"ts": T0_MS, "values": {"temperature": 1}}, token=token)
        body = [
            {"ts": T0_MS, "values": {"temperature": 99}},  # already stored: keeps the first
            {"ts": T0_MS + 1000, "values": {"temperature": 2}},
            {"ts": T0_MS + 1000, "values": {"temperature": 3}},  # twice in this request
        ]
        answer = post(f"{server}/api/v1/ingest", body, token=token).json()
        assert answer == {"accepted": 1, "duplicate": 2, "rejected": 0}
        assert stored(device) == [
            (T0, "temperature", 1.0),
            (T0 + timedelta(seconds=1), "temperature", 2.0),
        ]


class TestRejections:
    def test_bad_items_are_rejected_with_reasons_and_the_rest_kept(
        self, server: str, pump: tuple[Device, str]
    ) -> None:
        device, token = pump
        future = int((datetime.now(UTC) + timedelta(hours=1)).timestamp() * 1000)
        raw = (
            f'[{{"ts": {T0_MS}, "values": {{"temperature": 50, "ok": 1, "flag": true,'
            ' "note": "hot", "n": NaN, "i": -Infinity, "_reserved": 1, "nested": {"a": 1}}},'
            f' {{"ts": {future}, "values": {{"temperature": 1}}}},'
            ' {"ts": 1730000000, "values": {"temperature": 1}},'
            ' {"ts": "2026-01-05T12:00:00", "values": {"temperature": 1}},'
            " 42,"
            f' {{"ts": {T0_MS}}}]'
        ).encode()
        response = post(f"{server}/api/v1/ingest", None, raw=raw, token=token)
        assert response.status_code == 200
        answer = response.json()
        assert (answer["accepted"], answer["rejected"]) == (2, 11)
        reasons = {(e.get("item"), e.get("key")): e["reason"] for e in answer["errors"]}
        assert "not a number" in reasons[(0, "flag")]
        assert "not a number" in reasons[(0, "note")]
        assert "not finite" in reasons[(0, "n")] and "not finite" in reasons[(0, "i")]
        assert "bad metric key" in reasons[(0, "_reserved")]
        assert "dict, not a number" in reasons[(0, "nested")]
        assert "future" in reasons[(1, None)]
        assert "seconds instead of milliseconds" in reasons[(2, None)]
        assert "time zone" in reasons[(3, None)]
        assert "object" in reasons[(4, None)]
        assert "without values" in reasons[(5, None)]
        assert stored(device) == [(T0, "ok", 1.0), (T0, "temperature", 50.0)]

    def test_nothing_storable_is_400(self, server: str, pump: tuple[Device, str]) -> None:
        device, token = pump
        response = post(f"{server}/api/v1/ingest", {"temperature": "hot"}, token=token)
        assert response.status_code == 400
        assert response.json()["rejected"] == 1
        assert stored(device) == []

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            (b"{not json", "malformed JSON"),
            (b"", "empty body"),
            (b"42", "expected a JSON"),
            (b"[]", "empty array"),
            (b"{}", "empty object"),
        ],
    )
    def test_unusable_payload_is_400(
        self, server: str, pump: tuple[Device, str], raw: bytes, message: str
    ) -> None:
        response = post(f"{server}/api/v1/ingest", None, raw=raw, token=pump[1])
        assert response.status_code == 400
        assert message in response.json()["detail"]

    def test_too_many_points_is_413_and_stores_nothing(
        self, server: str, pump: tuple[Device, str]
    ) -> None:
        device, token = pump
        body = [{"ts": T0_MS + i, "values": {"temperature": 1.0}} for i in range(10_001)]
        response = post(f"{server}/api/v1/ingest", body, token=token)
        assert response.status_code == 413
        assert "split the batch" in response.json()["detail"]
        assert stored(device) == []

    def test_too_large_body_is_413(self, server: str, pump: tuple[Device, str]) -> None:
        response = post(
            f"{server}/api/v1/ingest", None, raw=b" " * (5 * 1024 * 1024), token=pump[1]
        )
        assert response.status_code == 413

    def test_get_is_405(self, server: str, pump: tuple[Device, str]) -> None:
        response = requests.get(f"{server}/api/v1/{pump[1]}/telemetry", timeout=10)
        assert response.status_code == 405 and response.headers["Allow"] == "POST"


class TestAuth:
    def test_missing_and_unknown_tokens_are_401(
        self, server: str, pump: tuple[Device, str]
    ) -> None:
        missing = post(f"{server}/api/v1/ingest", {"t": 1})
        assert missing.status_code == 401
        assert missing.headers["X-Content-Type-Options"] == "nosniff"  # errors too
        unknown = post(f"{server}/api/v1/ingest", {"t": 1}, token="abc.def")
        forged = post(f"{server}/api/v1/{pump[1][:-4]}AAAA/telemetry", {"t": 1})
        polling = requests.get(f"{server}/api/v1/{pump[1][:-4]}AAAA/rpc", timeout=10)
        for refused in (missing, unknown, forged, polling):
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"].startswith("Device "), refused.headers
        gateway = requests.post(
            f"{server}/api/v1/gateway/telemetry",
            json={"G-1": [{"values": {"t": 1}}]},
            headers={"Authorization": "Gateway abc.def"},
            timeout=10,
        )
        assert gateway.status_code == 401
        assert gateway.headers["WWW-Authenticate"].startswith("Gateway "), gateway.headers
        assert stored(pump[0]) == []

    def test_revoked_and_rotated_tokens(self, server: str, pump: tuple[Device, str]) -> None:
        device, token = pump
        assert post(f"{server}/api/v1/ingest", {"t": 1}, token=token).status_code == 200
        new_token = device_token_rotate(device=device)
        assert post(f"{server}/api/v1/ingest", {"t": 2}, token=token).status_code == 401
        assert post(f"{server}/api/v1/ingest", {"t": 3}, token=new_token).status_code == 200
        device_token_revoke(device=device)
        assert post(f"{server}/api/v1/ingest", {"t": 4}, token=new_token).status_code == 401


class TestGateway:
    def test_many_devices_of_the_tenant_only(
        self, server: str, tenant: Tenant, other_tenant: Tenant, pump: tuple[Device, str]
    ) -> None:
        device, _ = pump
        types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
        motor, _ = device_create(tenant=tenant, device_type=types["motor"], name="M", serial="M-1")
        other_types = device_types_install_catalog(tenant=other_tenant)
        foreign, _ = device_create(
            tenant=other_tenant, device_type=other_types[0], name="F", serial="F-1"
        )
        _, key = ingest_key_create(tenant=tenant)
        body = {
            "P-1": [{"ts": T0_MS, "values": {"temperature": 40}}],
            "M-1": {"ts": T0_MS, "values": {"speed": 1480, "current": 20}},
            "F-1": [{"ts": T0_MS, "values": {"temperature": 1}}],
            "ghost": {"temperature": 1},
        }
        response = post(
            f"{server}/api/v1/gateway/telemetry", body, headers={"Authorization": f"Gateway {key}"}
        )
        answer = response.json()
        assert (answer["accepted"], answer["rejected"]) == (3, 2)
        assert {e["device"] for e in answer["errors"]} == {"F-1", "ghost"}
        assert stored(device) == [(T0, "temperature", 40.0)]
        assert stored(motor) == [(T0, "current", 20.0), (T0, "speed", 1480.0)]
        assert stored(foreign) == []

    def test_device_token_is_not_a_gateway_key(self, server: str, pump: tuple[Device, str]) -> None:
        response = post(
            f"{server}/api/v1/gateway/telemetry", {"P-1": {"t": 1}}, headers={"X-API-Key": pump[1]}
        )
        assert response.status_code == 401


def test_a_failed_write_stores_nothing_of_the_request(
    server: str, pump: tuple[Device, str]
) -> None:
    device, token = pump
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.metric = 'boom' THEN RAISE EXCEPTION 'disk on fire'; END IF; "
            "RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON telemetry_reading "
            "FOR EACH ROW EXECUTE FUNCTION boom()"
        )
    try:
        body = [
            {"ts": T0_MS, "values": {"temperature": 1, "boom": 2}},
            {"ts": T0_MS + 1000, "values": {"temperature": 3}},
        ]
        response = post(f"{server}/api/v1/ingest", body, token=token)
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        assert stored(device) == []
        assert not LatestReading.objects.filter(device=device).exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER boom ON telemetry_reading")
            cursor.execute("DROP FUNCTION boom()")
    assert post(f"{server}/api/v1/ingest", body, token=token).json()["accepted"] == 3


def test_last_seen_status_and_live_update(
    server: str, tenant: Tenant, pump: tuple[Device, str]
) -> None:
    device, token = pump
    viewer = factories.make_user(tenant, Role.VIEWER)
    from django.test import Client

    client = Client()
    client.force_login(viewer)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    ws_url = server.replace("http://", "ws://") + "/ws/live/"
    with connect(
        ws_url, additional_headers={"Origin": server, "Cookie": cookie}, open_timeout=10
    ) as ws:
        assert post(f"{server}/api/v1/ingest", {"temperature": 64.5}, token=token).ok
        events: dict[str, Any] = {}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(events) < 2:
            frame = json.loads(ws.recv(timeout=5))
            assert frame["type"] == "batch"
            events.update({event["type"]: event["data"] for event in frame["events"]})
    assert events["telemetry"]["devices"][str(device.id)]["temperature"][1] == 64.5
    assert events["device.status"] == {
        **events["device.status"],
        "device": device.id,
        "from": "offline",
        "to": "healthy",
    }
    device.refresh_from_db()
    assert device.status == DeviceStatus.HEALTHY and device.last_seen is not None
    change = DeviceStatusChange.objects.get(device=device)
    assert (change.from_status, change.to_status) == ("offline", "healthy")


def test_rate_limit_answers_429_with_retry_after(pump: tuple[Device, str]) -> None:
    _, token = pump
    with servers.asgi_server(INGEST_DEVICE_RATE="3") as url:
        codes = [post(f"{url}/api/v1/ingest", {"t": i}, token=token) for i in range(8)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited, [r.status_code for r in codes]
    assert limited[0].headers["Retry-After"] == "1"
    assert "requests a second" in limited[0].json()["detail"]
    assert {r.status_code for r in codes} <= {200, 429}
