"""Revocation reaches every ingest process within a second (through Redis), even with credential
caching on: every request after that is refused."""

import json
import time
from collections.abc import Iterator

import pytest
import requests

from devices.models import Device
from devices.services import (
    device_create,
    device_delete,
    device_token_revoke,
    device_token_rotate,
    device_types_install_catalog,
    ingest_key_create,
    ingest_key_revoke,
)
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading

from .. import servers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TRIES = 12  # new connections each: both server processes see the credential


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    # Two processes caching every check for a minute: only the announcement can stop a token.
    with servers.asgi_server(
        INGEST_AUTH_CACHE_SECONDS="60", WEB_CONCURRENCY="2", INGEST_DEVICE_RATE="1000"
    ) as url:
        yield url


@pytest.fixture
def pump(tenant: Tenant) -> tuple[Device, str]:
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    return device_create(tenant=tenant, device_type=types["pump"], name="Pump 1", serial="P-1")


def send(server: str, token: str, body: object, scheme: str = "Device") -> int:
    return requests.post(
        f"{server}/api/v1/{'gateway/telemetry' if scheme == 'Gateway' else 'ingest'}",
        data=json.dumps(body),
        headers={"Authorization": f"{scheme} {token}", "Content-Type": "application/json"},
        timeout=10,
    ).status_code


def codes(server: str, token: str, body: object, scheme: str = "Device") -> set[int]:
    return {send(server, token, body, scheme) for _ in range(TRIES)}


def refused(server: str, token: str, body: object, scheme: str = "Device") -> set[int]:
    """The answers once the announcement has reached both processes: it travels through Redis
    to each process's subscription, so a request sent the same millisecond may still be let in;
    within a second every one is refused."""
    deadline = time.monotonic() + 1.0
    while send(server, token, body, scheme) != 401 and time.monotonic() < deadline:
        time.sleep(0.02)
    return codes(server, token, body, scheme)


def test_revoked_and_rotated_tokens_stop_at_once(server: str, pump: tuple[Device, str]) -> None:
    device, token = pump
    assert codes(server, token, {"temperature": 1}) == {200}  # cached in both processes now
    new = device_token_rotate(device=device)
    assert refused(server, token, {"temperature": 2}) == {401}
    assert codes(server, new, {"temperature": 3}) == {200}
    device_token_revoke(device=device)
    assert refused(server, new, {"temperature": 4}) == {401}


def test_a_deleted_device_stores_nothing_more(server: str, pump: tuple[Device, str]) -> None:
    device, token = pump
    tenant = device.tenant
    key = ingest_key_create(tenant=tenant, name="gw")[1]
    by_serial = {"P-1": [{"ts": 1_767_614_400_000, "values": {"temperature": 5}}]}
    assert codes(server, token, {"temperature": 1}) == {200}
    assert codes(server, key, by_serial, "Gateway") == {200}
    device_id = device.id
    device_delete(device=device)
    assert refused(server, token, {"temperature": 2}) == {401}
    assert codes(server, key, by_serial, "Gateway") == {400}  # unknown serial now
    assert not Reading.objects.filter(device_id=device_id).exists()


def test_a_revoked_ingestion_key_stops_at_once(server: str, tenant: Tenant) -> None:
    key, secret = ingest_key_create(tenant=tenant, name="gw")
    assert codes(server, secret, {}, "Gateway") == {400}  # known key, nothing to store
    ingest_key_revoke(key=key)
    assert refused(server, secret, {}, "Gateway") == {401}
