"""Every GET of the API, with hostile and clumsy query parameters drawn by Hypothesis: never a
5xx, and another tenant's device is a 404 whatever the parameters.

The endpoints and their parameters come from the OpenAPI document, so a new endpoint is fuzzed
the day it is added."""

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.models import Device
from devices.services import ingest_key_create
from iotplatform.tenancy.models import Tenant

from . import factories
from .telemetry.known_readings import write

pytestmark = pytest.mark.slow


def _schema() -> dict[str, Any]:
    import django

    django.setup()
    schema: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return schema


SCHEMA = _schema()
ENDPOINTS = [
    (path, [p["name"] for p in ops["get"].get("parameters", []) if p["in"] == "query"])
    for path, ops in sorted(SCHEMA["paths"].items())
    if "get" in ops
]

hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "\x00",
            "temp\x00erature",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "-1",
            "99999999999999999999999",
            str(2**64),
            "1e309",
            "nan",
            "NaN",
            "inf",
            "1,2,,3",
            ",,,",
            "temperature," * 200,
            "'; DROP TABLE devices_device; --",
            "\ud800",
            "%00",
            "2026-13-45",
            "1h",
            "1d",
            "0",
        ]
    ),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.datetimes().map(lambda d: d.isoformat()),
)


def _params(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({}, optional={name: hostile_text for name in names})


@pytest.fixture
def world(tenant: Tenant, other_tenant: Tenant, viewer: Any) -> dict[str, Any]:
    mine = factories.make_device(tenant, name="Mine", serial="M-1")
    theirs = factories.make_device(other_tenant, name="Theirs", serial="T-1")
    now = timezone.now()
    write(
        [
            (now - timedelta(minutes=i), tenant.id, mine.id, "temperature", 20.0 + i)
            for i in range(5)
        ]
    )
    return {"mine": mine, "theirs": theirs, "viewer": viewer}


def _url(path: str, device: Device, params: dict[str, str]) -> str:
    """The URL with the parameters percent-encoded as a client would send them (a lone
    surrogate becomes the invalid UTF-8 it stands for)."""
    query = urlencode(params, encoding="utf-8", errors="surrogatepass")
    return path.replace("{id}", str(device.id)) + (f"?{query}" if query else "")


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "names"), ENDPOINTS, ids=[p for p, _ in ENDPOINTS])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_parameter_gives_a_5xx(
    path: str, names: list[str], data: Any, world: dict[str, Any], api_as: Any
) -> None:
    params = data.draw(_params(names))
    client = api_as(world["viewer"])
    response = client.get(_url(path, world["mine"], params))
    assert response.status_code < 500, (path, params, response.status_code)
    declared = SCHEMA["paths"][path]["get"]["responses"]
    assert str(response.status_code) in declared, (path, params, response.status_code)
    if response.streaming:  # an export: checked before streaming, never broken half-way
        factories.streamed(response)
    if "{id}" in path:
        foreign = client.get(_url(path, world["theirs"], params))
        assert foreign.status_code in (400, 404), (path, params, foreign.status_code)
        assert str(foreign.status_code) in declared


DEEP = "DEEP"  # stands for 5,000 nested objects, spliced in as text (json.dumps cannot)
DEEP_TEXT = '{"a":' * 5000 + "1" + "}" * 5000


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/provision", {"devices": [{"serial": "x", "type": "pump", "meta": DEEP}]}),
        ("/api/v1/devices/{id}/commands", {"kind": "set_config", "payload": DEEP}),
        ("/api/v1/device-types", {"name": "deep", "metrics": DEEP}),
        ("/api/v1/device-types", {"name": "nul", "metrics": {"t\x00": {"unit": "C"}}}),
        ("/api/v1/devices/{id}/commands", {"kind": "set_config", "payload": {"x": "\x00"}}),
    ],
)
def test_deep_or_nul_json_is_a_400_naming_it(
    path: str, body: Any, world: dict[str, Any], api_as: Any, tenant: Tenant
) -> None:
    admin = factories.make_user(tenant, role="admin")
    key = ingest_key_create(tenant=tenant, name="gw")[1]
    raw = json.dumps(body).replace('"DEEP"', DEEP_TEXT)
    response = api_as(admin).post(
        _url(path, world["mine"], {}),
        raw,
        content_type="application/json",
        headers={"Authorization": f"Gateway {key}"} if "provision" in path else {},
    )
    assert response.status_code == 400, (path, response.status_code)
    assert "nested deeper" in str(response.json()) or "NUL" in str(response.json())


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        hostile_text,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(hostile_text, children, max_size=4)
    ),
    max_leaves=12,
)
WRITES = [
    (path, method)
    for path, operations in sorted(SCHEMA["paths"].items())
    for method in ("post", "patch")
    if method in operations
    and path.startswith("/api/v1/")
    and "telemetry" not in path
    and path != "/api/v1/ingest"
    and "{token}" not in path
]


def _body(path: str) -> st.SearchStrategy[Any]:
    """Bodies shaped like the endpoint's (its known keys with hostile values) or anything."""
    keys = [
        "name",
        "serial",
        "type",
        "kind",
        "payload",
        "ttl_seconds",
        "on",
        "metrics",
        "devices",
        "location",
        "tags",
        "action",
        "expected_interval_seconds",
    ]
    return st.one_of(
        json_values, st.fixed_dictionaries({}, optional={key: json_values for key in keys})
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "method"), WRITES, ids=[f"{m} {p}" for p, m in WRITES])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_body_gives_a_5xx_or_touches_another_tenant(
    path: str, method: str, data: Any, world: dict[str, Any], api_as: Any, tenant: Tenant
) -> None:
    admin = factories.make_user(tenant, role="admin") if not world.get("admin") else world["admin"]
    world["admin"] = admin
    theirs = world["theirs"]
    before = Device.objects.filter(tenant=theirs.tenant).values_list("id", "name", "status")
    before_rows = sorted(before)
    body = data.draw(_body(path))
    response = getattr(api_as(admin), method)(
        _url(path, world["mine"], {}), json.dumps(body), content_type="application/json"
    )
    assert response.status_code < 500, (method, path, body, response.status_code)
    declared = SCHEMA["paths"][path][method]["responses"]
    assert str(response.status_code) in declared, (method, path, response.status_code)
    after = sorted(Device.objects.filter(tenant=theirs.tenant).values_list("id", "name", "status"))
    assert after == before_rows
