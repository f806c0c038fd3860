"""A tenant's admin chooses its retention in the Django admin, within the platform's maximum;
another tenant's is out of reach."""

from typing import Any

import pytest

from iotplatform.tenancy.models import Tenant

pytestmark = pytest.mark.django_db


def _form(tenant: Tenant, days: str) -> dict[str, str]:
    return {"name": tenant.name, "timezone": tenant.timezone, "retention_days": days}


def test_a_tenant_admin_shortens_retention_within_the_maximum(
    page_as: Any, admin: Any, tenant: Tenant, settings: Any
) -> None:
    settings.RETENTION_MAX_DAYS = 400
    client = page_as(admin)
    url = f"/admin/tenancy/tenant/{tenant.pk}/change/"
    assert client.post(url, _form(tenant, "30")).status_code == 302
    tenant.refresh_from_db()
    assert tenant.retention_days == 30
    refused = client.post(url, _form(tenant, "500"))
    assert refused.status_code == 200  # the form again, with the reason
    assert "Between 1 and 400 days (the platform&#x27;s maximum)." in refused.content.decode()
    tenant.refresh_from_db()
    assert tenant.retention_days == 30


def test_another_tenants_retention_is_out_of_reach(
    page_as: Any, admin: Any, other_tenant: Tenant
) -> None:
    url = f"/admin/tenancy/tenant/{other_tenant.pk}/change/"
    assert page_as(admin).post(url, _form(other_tenant, "1")).status_code == 404
    other_tenant.refresh_from_db()
    assert other_tenant.retention_days == 365
