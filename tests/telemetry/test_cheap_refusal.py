"""Refusals cost the platform little: too many keys are refused while the body is read, and a
sender's refused messages count against its request rate."""

import json
from collections.abc import Iterator

import pytest
import requests

from devices.models import Device
from devices.services import device_create, device_types_install_catalog
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading

from .. import servers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RATE = 5


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with servers.asgi_server(INGEST_AUTH_CACHE_SECONDS="0", INGEST_DEVICE_RATE=str(RATE)) as url:
        yield url


@pytest.fixture
def pump(tenant: Tenant) -> tuple[Device, str]:
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    return device_create(tenant=tenant, device_type=types["pump"], name="Pump 1", serial="P-1")


def post(server: str, token: str, body: bytes) -> requests.Response:
    return requests.post(
        f"{server}/api/v1/ingest",
        data=body,
        headers={"Authorization": f"Device {token}", "Content-Type": "application/json"},
        timeout=30,
    )


def test_a_body_of_too_many_keys_is_refused_by_its_key_count(
    server: str, pump: tuple[Device, str]
) -> None:
    device, token = pump
    # The attack of the issue: ~4 MB, 355,000 keys; under the size limit, far over the points.
    body = json.dumps({f"k{i}": 1 for i in range(355_000)}, separators=(",", ":")).encode()
    assert len(body) < 4 * 1024 * 1024
    response = post(server, token, body)
    assert response.status_code == 413
    assert "keys in one request" in response.json()["detail"]
    assert not Reading.objects.filter(device=device).exists()
    # A full legitimate batch (10,000 points, one per item with an ISO time) is still fine.
    items = [
        {
            "ts": f"2026-01-05T12:{i // 60 % 60:02d}:{i % 60:02d}.{i // 3600:03d}Z",
            "values": {"t": i},
        }
        for i in range(10_000)
    ]
    ok = post(server, token, json.dumps(items).encode())
    assert ok.status_code == 200, ok.text[:300]
    assert ok.json()["accepted"] == 10_000


def test_refused_messages_count_against_the_senders_rate(
    server: str, pump: tuple[Device, str], other_tenant: Tenant
) -> None:
    _, token = pump
    codes = [post(server, token, b"{not json").status_code for _ in range(RATE * 3)]
    # The first ones are refused for what they are, then the sender is over its rate: 429 at
    # once (unless the burst straddled a second boundary, in which case a few more 400s).
    assert codes[0] == 400 and 429 in codes, codes
    assert codes.count(400) <= 2 * RATE + 1, codes
    # Another device (of another tenant) is not affected.
    types = {t.name: t for t in device_types_install_catalog(tenant=other_tenant)}
    _, theirs = device_create(tenant=other_tenant, device_type=types["pump"], name="X", serial="X")
    assert post(server, theirs, b'{"t": 1}').status_code == 200
