"""Fixtures shared by the whole suite: tenants, people in each role, devices, API clients."""

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from iotplatform.tenancy.models import Role, Tenant

from . import factories


@pytest.fixture
def tenant(db: None) -> Tenant:
    return factories.make_tenant("acme", "Acme Plant")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return factories.make_tenant("globex", "Globex Foundry")


@pytest.fixture
def admin(tenant: Tenant) -> Any:
    return factories.make_user(tenant, Role.ADMIN, "alice-admin")


@pytest.fixture
def operator(tenant: Tenant) -> Any:
    return factories.make_user(tenant, Role.OPERATOR, "oscar-operator")


@pytest.fixture
def viewer(tenant: Tenant) -> Any:
    return factories.make_user(tenant, Role.VIEWER, "vera-viewer")


@pytest.fixture
def other_admin(other_tenant: Tenant) -> Any:
    return factories.make_user(other_tenant, Role.ADMIN, "gary-globex")


@pytest.fixture
def device(tenant: Tenant) -> Any:
    return factories.make_device(tenant, name="Pump 1", serial="P-001")


@pytest.fixture
def other_device(other_tenant: Tenant) -> Any:
    return factories.make_device(other_tenant, name="Globex Press", serial="G-001")


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def api_as() -> Any:
    """api_as(user) -> an APIClient authenticated as that user."""
    return _api


@pytest.fixture
def page_as() -> Any:
    """page_as(user) -> a Django test Client with that user signed in."""

    def make(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make
