"""The people API's rates: per person and per address, a 429 naming the rate with Retry-After,
one person's exhaustion costing nobody else (another tenant's person included), and the
throttles letting requests through when the cache is down."""

import uuid
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from iotplatform import throttling
from iotplatform.tenancy.models import Role, Tenant

from .. import factories

pytestmark = pytest.mark.django_db


def _client(user: Any, address: str) -> Client:
    # the counts live in the shared cache, where an earlier run's user of the same id may
    # have left some
    cache.delete_many([f"throttle_person_{user.pk}", f"throttle_address_{address}"])
    client = Client(REMOTE_ADDR=address)
    client.force_login(user)
    return client


def _address() -> str:
    """An address of its own per test."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


@override_settings(API_RATE_PERSON="3/minute")
def test_a_person_over_the_rate_gets_429_naming_it_and_others_go_on(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    me = _client(factories.make_user(tenant, Role.OPERATOR), _address())
    assert [me.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]
    refused = me.get("/api/v1/devices")
    assert refused.status_code == 429
    assert "more than 3/minute API requests for this account" in refused.json()["detail"]
    assert 0 < int(refused["Retry-After"]) <= 60
    # a colleague and another tenant's person are not touched
    colleague = _client(factories.make_user(tenant), _address())
    assert colleague.get("/api/v1/me").status_code == 200
    theirs = _client(factories.make_user(other_tenant, Role.ADMIN), _address())
    assert theirs.get("/api/v1/me").status_code == 200


@override_settings(API_RATE_ADDRESS="2/minute")
def test_one_address_is_limited_whoever_signs_in_from_it(tenant: Tenant) -> None:
    address = _address()
    a = _client(factories.make_user(tenant), address)
    b = _client(factories.make_user(tenant), address)
    assert [a.get("/api/v1/me").status_code, b.get("/api/v1/me").status_code] == [200, 200]
    refused = a.get("/api/v1/me")
    assert refused.status_code == 429
    assert "API requests from this address" in refused.json()["detail"]
    assert _client(factories.make_user(tenant), _address()).get("/api/v1/me").status_code == 200


class _Down:
    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("redis is down")

    set = get


@override_settings(API_RATE_PERSON="1/minute", API_RATE_ADDRESS="1/minute")
def test_with_the_cache_down_requests_go_through(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(throttling._Throttle, "cache", _Down())
    me = _client(factories.make_user(tenant), _address())
    assert [me.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]
