"""Values the database cannot hold are refused one by one with a reason, through the real
server: never a 5xx, nothing of them stored, the tenant's pages and API still answering, and
buckets always UTC whatever offset the device wrote."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from django.db import connection

from devices import tokens
from devices.models import Device
from devices.services import device_create, device_types_install_catalog, ingest_key_create
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading

from .. import servers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with servers.asgi_server(INGEST_AUTH_CACHE_SECONDS="0", INGEST_DEVICE_RATE="1000") as url:
        yield url


@pytest.fixture
def pump(tenant: Tenant) -> tuple[Device, str]:
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    return device_create(tenant=tenant, device_type=types["pump"], name="Pump 1", serial="P-1")


def post(url: str, raw: str, auth: str) -> requests.Response:
    return requests.post(
        url,
        data=raw.encode("utf-8", "surrogatepass"),
        headers={"Authorization": auth, "Content-Type": "application/json"},
        timeout=30,
    )


HOSTILE = [
    # (raw JSON body, what the one bad item's reason says)
    ('{"temperature": 1' + "0" * 400 + ', "flow": 2}', "outside ±1e15"),
    ('{"temperature": 1e308, "flow": 2}', "outside ±1e15"),
    ('{"temp\\u0000x": 1, "flow": 2}', "bad metric key"),
    ('{"temp\\ud800": 1, "flow": 2}', "bad metric key"),
    ('{"temp\\n": 1, "flow": 2}', "bad metric key"),
    (
        '[{"ts": "2026-01-05T12:00:00+05:30", "values": {"a": 1e16}}, {"values": {"flow": 2}}]',
        "outside ±1e15",
    ),
]


@pytest.mark.parametrize(("raw", "reason"), HOSTILE)
def test_a_value_the_database_cannot_hold_is_refused_alone(
    server: str, pump: tuple[Device, str], raw: str, reason: str, api_as: Any, viewer: Any
) -> None:
    device, token = pump
    response = post(f"{server}/api/v1/ingest", raw, f"Device {token}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 1), body
    assert reason in body["errors"][0]["reason"]
    assert list(Reading.objects.filter(device=device).values_list("metric", flat=True)) == ["flow"]
    # Nothing the readers choke on: the tenant's summary, series and latest values answer.
    client = api_as(viewer)
    for path in (
        "/api/v1/telemetry/summary",
        f"/api/v1/devices/{device.id}/series?metrics=flow&start=2020-01-01T00:00:00Z",
        "/api/v1/telemetry/latest",
    ):
        assert client.get(path).status_code == 200, path


def test_gateway_serials_with_nul_or_surrogates_are_refused_by_name(
    server: str, pump: tuple[Device, str]
) -> None:
    device, _ = pump
    key = ingest_key_create(tenant=device.tenant, name="gw")[1]
    raw = '{"P-\\u0000": {"t": 1}, "P-\\udc00": {"t": 1}, "P-1": {"flow": 3}}'
    response = post(f"{server}/api/v1/gateway/telemetry", raw, f"Gateway {key}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert {e["device"] for e in body["errors"]} == {"P-\\u0000", "P-\\udc00"}


def test_odd_tokens_are_unknown_never_looked_up() -> None:
    """A NUL, a control character or a lone surrogate in a token (an MQTT password can carry
    any of them) never reaches the database or the hash: it is an unknown token, a 401."""
    good = tokens.token_generate().token
    assert tokens.token_prefix(good) == good[:12]
    for odd in (good[:12] + ".\x00" + "a" * 30, good + "\ud800", good[:-1] + "\n", "x" * 200):
        assert tokens.token_prefix(odd) is None, odd


def test_an_offset_time_lands_in_its_utc_hour(server: str, pump: tuple[Device, str]) -> None:
    device, token = pump
    raw = '[{"ts": "2026-11-24T15:45:00+05:30", "values": {"flow": 2}}]'
    assert post(f"{server}/api/v1/ingest", raw, f"Device {token}").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT bucket FROM telemetry_rollup_1h WHERE device_id = %s", [device.id])
        assert cursor.fetchall() == [(datetime(2026, 11, 24, 10, 0, tzinfo=UTC),)]
        cursor.execute("SELECT bucket FROM telemetry_rollup_1m WHERE device_id = %s", [device.id])
        assert cursor.fetchall() == [(datetime(2026, 11, 24, 10, 15, tzinfo=UTC),)]
