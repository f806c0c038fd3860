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


@pytest.mark.django_db
class TestDeviceManagement:
    @pytest.fixture(autouse=True)
    def _types(self, tenant: Tenant) -> None:
        from devices.services import device_types_install_catalog

        device_types_install_catalog(tenant=tenant)

    def test_admin_registers_a_device_and_gets_its_token_once(
        self, api_as: Any, admin: Any, viewer: Any
    ) -> None:
        response = api_as(admin).post(
            "/api/v1/devices",
            {"type": "motor", "name": "Motor 9", "location": "Hall 3", "tags": ["line-2"]},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["type"] == "motor" and body["token"].count(".") == 1
        detail = api_as(viewer).get(f"/api/v1/devices/{body['id']}").json()
        assert "token" not in detail and detail["tags"] == ["line-2"]

    @pytest.mark.parametrize("role_fixture", ["viewer", "operator"])
    def test_only_admins_manage(
        self, api_as: Any, request: Any, role_fixture: str, device: Device
    ) -> None:
        client = api_as(request.getfixturevalue(role_fixture))
        assert (
            client.post("/api/v1/devices", {"type": "pump", "name": "X"}, format="json").status_code
            == 403
        )
        assert (
            client.patch(f"/api/v1/devices/{device.pk}", {"name": "Y"}, format="json").status_code
            == 403
        )
        assert client.delete(f"/api/v1/devices/{device.pk}").status_code == 403
        assert client.post(f"/api/v1/devices/{device.pk}/token").status_code == 403
        assert Device.objects.get(pk=device.pk).name == "Pump 1"

    def test_bad_input_names_the_field(self, api_as: Any, admin: Any, device: Device) -> None:
        client = api_as(admin)
        response = client.post("/api/v1/devices", {"type": "rocket", "name": "X"}, format="json")
        assert response.status_code == 400 and "rocket" in response.json()["type"][0]
        response = client.post("/api/v1/devices", {"type": "pump"}, format="json")
        assert response.status_code == 400 and "name" in response.json()
        response = client.post(
            "/api/v1/devices", {"type": "pump", "name": "Dup", "serial": "P-001"}, format="json"
        )
        assert response.status_code == 400 and "serial" in response.json()
        response = client.patch(f"/api/v1/devices/{device.pk}", {"tags": "nope"}, format="json")
        assert response.status_code == 400 and "tags" in response.json()

    def test_update_rotate_delete(self, api_as: Any, admin: Any, device: Device) -> None:
        client = api_as(admin)
        response = client.patch(
            f"/api/v1/devices/{device.pk}",
            {"name": "Pump One", "type": "compressor"},
            format="json",
        )
        assert response.json()["name"] == "Pump One" and response.json()["type"] == "compressor"
        token = client.post(f"/api/v1/devices/{device.pk}/token").json()["token"]
        assert token.count(".") == 1
        assert client.delete(f"/api/v1/devices/{device.pk}").status_code == 204
        assert not Device.objects.filter(pk=device.pk).exists()

    def test_foreign_devices_are_404_for_every_action(
        self, api_as: Any, admin: Any, other_device: Device
    ) -> None:
        client = api_as(admin)
        url = f"/api/v1/devices/{other_device.pk}"
        assert client.patch(url, {"name": "mine"}, format="json").status_code == 404
        assert client.delete(url).status_code == 404
        assert client.post(f"{url}/token").status_code == 404
        assert Device.objects.filter(pk=other_device.pk, name="Globex Press").exists()

    def test_latest_values_are_listed_without_extra_queries(
        self, api_as: Any, viewer: Any, tenant: Tenant
    ) -> None:
        from django.utils import timezone

        from telemetry.models import LatestReading

        client = api_as(viewer)
        devices = [factories.make_device(tenant) for _ in range(3)]
        now = timezone.now()
        LatestReading.objects.create(
            device=devices[0], tenant=tenant, metric="temperature", time=now, value=71.5
        )
        with CaptureQueriesContext(connection) as few:
            body = client.get("/api/v1/devices").json()
        by_id = {d["id"]: d for d in body["results"]}
        assert by_id[devices[0].id]["latest"]["temperature"]["value"] == 71.5
        assert by_id[devices[1].id]["latest"] == {}
        for _ in range(10):
            factories.make_device(tenant)
        with CaptureQueriesContext(connection) as many:
            client.get("/api/v1/devices")
        assert len(many) == len(few)


@pytest.mark.django_db
def test_device_types_are_listed_and_admins_add_them(
    api_as: Any, admin: Any, viewer: Any, other_tenant: Tenant
) -> None:
    from devices.services import device_types_install_catalog

    device_types_install_catalog(tenant=other_tenant)
    assert api_as(viewer).get("/api/v1/device-types").json()["results"] == []
    created = api_as(admin).post(
        "/api/v1/device-types",
        {
            "name": "chiller",
            "metrics": {"temperature": {"unit": "°C", "min": 0, "max": 20}},
            "expected_interval_seconds": 10,
        },
        format="json",
    )
    assert created.status_code == 201
    assert [t["name"] for t in api_as(viewer).get("/api/v1/device-types").json()["results"]] == [
        "chiller"
    ]
    bad = api_as(admin).post(
        "/api/v1/device-types", {"name": "x", "metrics": {"t": 1}}, format="json"
    )
    assert bad.status_code == 400 and "metrics" in bad.json()
    assert (
        api_as(viewer).post("/api/v1/device-types", {"name": "y"}, format="json").status_code == 403
    )


@pytest.mark.django_db
def test_admins_set_a_types_zscore_detector(
    api_as: Any, admin: Any, operator: Any, other_admin: Any, tenant: Tenant
) -> None:
    chiller = factories.make_device_type(tenant, "chiller")
    url = f"/api/v1/device-types/{chiller.pk}"
    assert api_as(operator).get(url).json()["zscore_window"] == 20
    changed = api_as(admin).patch(
        url, {"zscore_window": 60, "zscore_threshold": 3.5}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert (changed.json()["zscore_window"], changed.json()["zscore_threshold"]) == (60, 3.5)
    chiller.refresh_from_db()
    assert (chiller.zscore_window, chiller.zscore_threshold) == (60, 3.5)
    # Out of range: a 400 naming the field, nothing saved.
    bad = api_as(admin).patch(url, {"zscore_window": 2, "zscore_threshold": 1.0}, format="json")
    assert bad.status_code == 400 and "zscore_window" in bad.json()
    # two hours at most: every minute's cycle reads that much of every device
    long = api_as(admin).patch(url, {"zscore_window": 121}, format="json")
    assert long.status_code == 400 and "zscore_window" in long.json()
    # a misspelt setting is a 400 naming it, not a 200 that changed nothing
    typo = api_as(admin).patch(url, {"zscore_windw": 30}, format="json")
    assert typo.status_code == 400 and "zscore_windw" in typo.json()
    assert api_as(admin).patch(url, {}, format="json").json()["zscore_window"] == 60
    chiller.refresh_from_db()
    assert chiller.zscore_threshold == 3.5
    # Operators read but do not change it; another tenant's admin does not find it.
    assert api_as(operator).patch(url, {"zscore_window": 30}, format="json").status_code == 403
    assert api_as(other_admin).get(url).status_code == 404
    assert api_as(other_admin).patch(url, {"zscore_window": 30}, format="json").status_code == 404
    chiller.refresh_from_db()
    assert chiller.zscore_window == 60


@pytest.mark.django_db
def test_status_history(
    api_as: Any, operator: Any, viewer: Any, device: Device, other_device: Device
) -> None:
    api_as(operator).post(f"/api/v1/devices/{device.pk}/maintenance", {"on": True}, format="json")
    api_as(operator).post(f"/api/v1/devices/{device.pk}/maintenance", {"on": False}, format="json")
    body = api_as(viewer).get(f"/api/v1/devices/{device.pk}/status-changes").json()
    assert [(c["from_status"], c["to_status"]) for c in body["results"]] == [
        ("maintenance", "offline"),
        ("offline", "maintenance"),
    ]
    assert (
        api_as(viewer).get(f"/api/v1/devices/{other_device.pk}/status-changes").status_code == 404
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "make"),
    [
        ("/api/v1/device-types", lambda t, i: factories.make_device_type(t, f"type {i}")),
        ("/api/v1/members", lambda t, i: factories.make_user(t)),
    ],
)
def test_other_lists_do_not_grow_queries_with_rows(
    api_as: Any, admin: Any, tenant: Tenant, url: str, make: Any
) -> None:
    client = api_as(admin)
    make(tenant, 0)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for i in range(1, 11):
        make(tenant, i)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).json()["count"] >= 11
    assert len(many) == len(few)


@pytest.mark.django_db
def test_admins_set_a_types_residual_threshold(
    api_as: Any, admin: Any, operator: Any, other_admin: Any, tenant: Tenant
) -> None:
    chiller = factories.make_device_type(tenant, "chiller")
    url = f"/api/v1/device-types/{chiller.pk}"
    assert api_as(operator).get(url).json()["residual_threshold"] == 6.0
    changed = api_as(admin).patch(url, {"residual_threshold": 8.5}, format="json")
    assert changed.status_code == 200 and changed.json()["residual_threshold"] == 8.5
    chiller.refresh_from_db()
    assert chiller.residual_threshold == 8.5
    for value in (1.5, 51, "x"):  # a 400 naming the field, nothing saved
        bad = api_as(admin).patch(url, {"residual_threshold": value}, format="json")
        assert bad.status_code == 400 and "residual_threshold" in bad.json(), value
    chiller.refresh_from_db()
    assert chiller.residual_threshold == 8.5
    assert api_as(operator).patch(url, {"residual_threshold": 9}, format="json").status_code == 403
    assert (
        api_as(other_admin).patch(url, {"residual_threshold": 9}, format="json").status_code == 404
    )
    chiller.refresh_from_db()
    assert chiller.residual_threshold == 8.5
