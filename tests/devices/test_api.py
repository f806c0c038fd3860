from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices.models import Device, DeviceStatus
from iotplatform.tenancy.models import Tenant

from .. import factories


@pytest.mark.django_db
class TestDeviceList:
    def test_lists_own_tenant_only(
        self, api_as: Any, viewer: Any, device: Device, other_device: Device
    ) -> None:
        body = api_as(viewer).get("/api/v1/devices").json()
        assert [d["serial"] for d in body["results"]] == ["P-001"]
        assert body["results"][0]["type"] == "pump"

    def test_filters(self, api_as: Any, viewer: Any, tenant: Tenant) -> None:
        factories.make_device(tenant, name="A", status=DeviceStatus.HEALTHY)
        factories.make_device(tenant, name="B", status=DeviceStatus.OFFLINE)
        client = api_as(viewer)
        healthy = client.get("/api/v1/devices?status=healthy").json()["results"]
        assert [d["name"] for d in healthy] == ["A"]
        assert [d["name"] for d in client.get("/api/v1/devices?search=b").json()["results"]] == [
            "B"
        ]

    def test_query_count_does_not_grow_with_devices(
        self, api_as: Any, viewer: Any, tenant: Tenant
    ) -> None:
        client = api_as(viewer)
        factories.make_device(tenant)
        with CaptureQueriesContext(connection) as few:
            client.get("/api/v1/devices")
        for _ in range(15):
            factories.make_device(tenant)
        with CaptureQueriesContext(connection) as many:
            assert len(client.get("/api/v1/devices").json()["results"]) == 16
        assert len(many) == len(few) <= 5


@pytest.mark.django_db
class TestDeviceDetail:
    def test_own_device(self, api_as: Any, viewer: Any, device: Device) -> None:
        body = api_as(viewer).get(f"/api/v1/devices/{device.pk}").json()
        assert (body["name"], body["status"]) == ("Pump 1", "offline")

    def test_foreign_device_is_the_same_404_as_a_missing_one(
        self, api_as: Any, viewer: Any, other_device: Device
    ) -> None:
        client = api_as(viewer)
        foreign = client.get(f"/api/v1/devices/{other_device.pk}")
        missing = client.get("/api/v1/devices/999999")
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json() == missing.json()


@pytest.mark.django_db
class TestMaintenance:
    def test_viewer_cannot_act(self, api_as: Any, viewer: Any, device: Device) -> None:
        response = api_as(viewer).post(
            f"/api/v1/devices/{device.pk}/maintenance", {"on": True}, format="json"
        )
        assert response.status_code == 403
        device.refresh_from_db()
        assert device.status == DeviceStatus.OFFLINE

    def test_operator_puts_device_in_and_out_of_maintenance(
        self, api_as: Any, operator: Any, device: Device
    ) -> None:
        client = api_as(operator)
        url = f"/api/v1/devices/{device.pk}/maintenance"
        assert client.post(url, {"on": True}, format="json").json()["status"] == "maintenance"
        device.refresh_from_db()
        assert device.status == DeviceStatus.MAINTENANCE
        assert client.post(url, {"on": False}, format="json").json()["status"] == "offline"

    def test_operator_cannot_touch_foreign_device(
        self, api_as: Any, operator: Any, other_device: Device
    ) -> None:
        response = api_as(operator).post(
            f"/api/v1/devices/{other_device.pk}/maintenance", {"on": True}, format="json"
        )
        assert response.status_code == 404
        other_device.refresh_from_db()
        assert other_device.status == DeviceStatus.OFFLINE

    def test_bad_input_names_the_field(self, api_as: Any, operator: Any, device: Device) -> None:
        response = api_as(operator).post(
            f"/api/v1/devices/{device.pk}/maintenance", {"on": "perhaps"}, format="json"
        )
        assert response.status_code == 400
        assert "on" in response.json()

    def test_malformed_json_is_400(self, api_as: Any, operator: Any, device: Device) -> None:
        response = api_as(operator).post(
            f"/api/v1/devices/{device.pk}/maintenance", "{not json", content_type="application/json"
        )
        assert response.status_code == 400
