"""Property-based fuzzing of the ingest endpoints: never a 5xx, and what the answers say was
accepted is exactly what the table holds (nothing written on rejection)."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.services import device_create, device_types_install_catalog, ingest_key_create
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading

from .. import servers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NOW_MS = int(datetime.now(UTC).timestamp() * 1000)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
)
keys = st.one_of(
    st.sampled_from(["temperature", "vibration", "ts", "values", "_x", ""]), st.text(max_size=70)
)
timestamps = st.one_of(
    st.integers(NOW_MS - 10**11, NOW_MS + 10**9),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
)
values = st.dictionaries(keys, scalars, max_size=6)
readings = st.one_of(
    values,
    st.fixed_dictionaries({"ts": timestamps, "values": st.one_of(values, scalars)}),
    st.fixed_dictionaries({"values": values}),
    st.fixed_dictionaries({"ts": timestamps}),
    scalars,
)
payloads = st.one_of(
    readings,
    st.lists(readings, max_size=12),
    st.recursive(scalars, lambda c: st.lists(c) | st.dictionaries(keys, c), max_leaves=8),
)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with servers.asgi_server(INGEST_DEVICE_RATE="100000") as url:
        yield url


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, allow_nan=True).encode()


def test_device_endpoint_never_fails_and_counts_are_exact(server: str, tenant: Tenant) -> None:
    types = device_types_install_catalog(tenant=tenant)
    device, token = device_create(tenant=tenant, device_type=types[0], name="Fuzz")
    total = {"accepted": 0}

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(payload=payloads, path=st.sampled_from(["ingest", "token"]))
    def check(payload: Any, path: str) -> None:
        url = (
            f"{server}/api/v1/ingest" if path == "ingest" else f"{server}/api/v1/{token}/telemetry"
        )
        response = requests.post(
            url, data=_dumps(payload), headers={"Authorization": f"Device {token}"}, timeout=30
        )
        assert response.status_code in (200, 400, 413), response.text
        body = response.json()
        if response.status_code == 200:
            total["accepted"] += body["accepted"]
        else:
            assert body.get("accepted", 0) == 0
        assert Reading.objects.filter(device=device).count() == total["accepted"]

    check()


def test_gateway_endpoint_never_fails(server: str, tenant: Tenant) -> None:
    types = device_types_install_catalog(tenant=tenant)
    device_create(tenant=tenant, device_type=types[0], name="G", serial="G-1")
    _, key = ingest_key_create(tenant=tenant)
    total = {"accepted": 0}

    @settings(
        max_examples=80,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        payload=st.one_of(
            payloads,
            st.dictionaries(
                st.sampled_from(["G-1", "nope", ""]),
                st.one_of(readings, st.lists(readings)),
                max_size=3,
            ),
        )
    )
    def check(payload: Any) -> None:
        response = requests.post(
            f"{server}/api/v1/gateway/telemetry",
            data=_dumps(payload),
            headers={"X-API-Key": key},
            timeout=30,
        )
        assert response.status_code in (200, 400, 413), response.text
        if response.status_code == 200:
            total["accepted"] += response.json()["accepted"]
        assert Reading.objects.filter(tenant=tenant).count() == total["accepted"]

    check()


def test_a_device_never_writes_into_another_device(server: str, tenant: Tenant) -> None:
    types = device_types_install_catalog(tenant=tenant)
    a, token_a = device_create(tenant=tenant, device_type=types[0], name="A")
    b, _ = device_create(tenant=tenant, device_type=types[0], name="B")
    requests.post(
        f"{server}/api/v1/ingest",
        json={"temperature": 1, "device": b.id, "device_id": b.id},
        headers={"Authorization": f"Device {token_a}"},
        timeout=10,
    )
    assert not Reading.objects.filter(device=b).exists()
    assert set(Reading.objects.filter(device=a).values_list("metric", flat=True)) == {
        "temperature",
        "device",
        "device_id",
    }
