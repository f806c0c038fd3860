"""The Analytics page: in the top navigation for every role, its filters offer the tenant's own
device types (those with behaviour clusters first) and nothing of another tenant's."""

import json
import re
from typing import Any

import pytest

from analytics.models import ModelKind
from iotplatform.tenancy.models import Tenant
from tests.analytics import plant
from tests.analytics.test_api import _version

pytestmark = pytest.mark.django_db


def _page_data(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="analytics-data" type="application/json">(.*?)</script>', html)
    assert found, html[:500]
    return json.loads(found.group(1))


def test_the_analytics_page_offers_the_tenants_types_clustered_first(
    page_as: Any, viewer: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    from devices.models import DeviceType

    DeviceType.objects.create(
        tenant=tenant, name="compressor", metrics={"pressure": {"unit": "bar"}}
    )
    plant.pump_type(tenant)
    DeviceType.objects.create(tenant=other_tenant, name="press", metrics={})
    version = _version(tenant)  # the pumps' clusters
    version.kind, version.state = ModelKind.CLUSTER, "active"
    version.save()
    html = page_as(viewer).get("/analytics/").content.decode()
    assert 'href="/analytics/"' in page_as(viewer).get("/").content.decode()
    data = _page_data(html)
    assert [(t["name"], t["clusters"]) for t in data["types"]] == [
        ("pump", True),
        ("compressor", False),
    ]
    assert data["types"][1]["metrics"] == [{"key": "pressure", "label": "pressure", "unit": "bar"}]
    assert data["tz"] == tenant.timezone
    assert data["urls"]["anomalies_csv"] == "/api/v1/analytics/anomalies.csv"
    assert "press" not in [t["name"] for t in data["types"]] and ">press<" not in html


def test_a_tenant_without_types_is_told_how_to_get_devices(page_as: Any, viewer: Any) -> None:
    response = page_as(viewer).get("/analytics/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "No device types yet" in html and "analytics-data" not in html


def test_signed_out_visitors_are_sent_to_sign_in(client: Any) -> None:
    response = client.get("/analytics/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
