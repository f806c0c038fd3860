from typing import Any

import pytest
from django.test import Client

from devices.models import Device
from iotplatform.tenancy.models import Role, Tenant
from iotplatform.tenancy.services import membership_set

from ..factories import PASSWORD


@pytest.mark.django_db
class TestLogin:
    def test_login_page_renders_with_csrf(self) -> None:
        page = Client().get("/accounts/login/")
        assert page.status_code == 200
        assert b"csrfmiddlewaretoken" in page.content and b"Sign in" in page.content

    def test_wrong_password_is_refused(self, viewer: Any) -> None:
        page = Client().post("/accounts/login/", {"username": "vera-viewer", "password": "nope"})
        assert page.status_code == 200
        assert b"didn't match" in page.content
        assert "_auth_user_id" not in Client().session

    def test_login_then_logout(self, viewer: Any, device: Device) -> None:
        client = Client()
        response = client.post(
            "/accounts/login/", {"username": "vera-viewer", "password": PASSWORD}
        )
        assert response.status_code == 302 and response["Location"] == "/"
        home = client.get("/")
        assert b"Acme Plant" in home.content and b"Pump 1" in home.content
        assert client.post("/accounts/logout/").status_code == 302
        after = client.get("/")
        assert after.status_code == 302 and after["Location"].startswith("/accounts/login/")

    def test_login_without_csrf_token_is_refused(self, viewer: Any) -> None:
        client = Client(enforce_csrf_checks=True)
        response = client.post(
            "/accounts/login/", {"username": "vera-viewer", "password": PASSWORD}
        )
        assert response.status_code == 403

    def test_session_cookie_is_httponly_and_lax(self, viewer: Any) -> None:
        client = Client()
        client.post("/accounts/login/", {"username": "vera-viewer", "password": PASSWORD})
        cookie = client.cookies["sessionid"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax"


@pytest.mark.django_db
class TestTenantPages:
    def test_home_shows_only_own_devices(
        self, page_as: Any, viewer: Any, device: Device, other_device: Device
    ) -> None:
        page = page_as(viewer).get("/")
        assert b"Pump 1" in page.content and b"Globex Press" not in page.content

    def test_foreign_device_page_is_404_like_missing(
        self, page_as: Any, viewer: Any, other_device: Device
    ) -> None:
        client = page_as(viewer)
        assert client.get(f"/devices/{other_device.pk}/").status_code == 404
        assert client.get("/devices/999999/").status_code == 404

    def test_own_device_page(self, page_as: Any, viewer: Any, device: Device) -> None:
        page = page_as(viewer).get(f"/devices/{device.pk}/")
        assert page.status_code == 200 and b"P-001" in page.content

    def test_person_without_tenant_sees_an_explanation(
        self, page_as: Any, django_user_model: Any
    ) -> None:
        loner = django_user_model.objects.create_user("loner", password="x-very-long-1")
        page = page_as(loner).get("/")
        assert page.status_code == 403 and b"not a member of any tenant" in page.content

    def test_switching_tenant(
        self, page_as: Any, viewer: Any, other_tenant: Tenant, device: Device, other_device: Device
    ) -> None:
        membership_set(tenant=other_tenant, user=viewer, role=Role.VIEWER)
        client = page_as(viewer)
        assert b"Pump 1" in client.get("/").content
        response = client.post("/tenant/switch", {"tenant": "globex", "next": "/"})
        assert response.status_code == 302
        page = client.get("/")
        assert b"Globex Press" in page.content and b"Pump 1" not in page.content
        assert client.get(f"/devices/{device.pk}/").status_code == 404

    def test_switching_to_a_foreign_tenant_is_404_and_changes_nothing(
        self, page_as: Any, viewer: Any, other_tenant: Tenant, device: Device
    ) -> None:
        client = page_as(viewer)
        assert client.post("/tenant/switch", {"tenant": "globex"}).status_code == 404
        assert b"Pump 1" in client.get("/").content

    def test_switch_does_not_redirect_off_site(
        self, page_as: Any, viewer: Any, other_tenant: Tenant
    ) -> None:
        membership_set(tenant=other_tenant, user=viewer, role=Role.VIEWER)
        response = page_as(viewer).post(
            "/tenant/switch", {"tenant": "globex", "next": "https://evil.example/"}
        )
        assert response["Location"] == "/"


@pytest.mark.django_db
def test_api_docs_and_schema_are_served_offline(page_as: Any, viewer: Any) -> None:
    client = page_as(viewer)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/devices" in schema.content


def test_openapi_document_is_valid_and_describes_the_device_endpoints(tmp_path: Any) -> None:
    from django.core.management import call_command

    out = tmp_path / "schema.json"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
        "--file",
        str(out),
    )
    import json

    paths = json.loads(out.read_text())["paths"]
    for path in (
        "/api/v1/ingest",
        "/api/v1/{token}/telemetry",
        "/api/v1/gateway/telemetry",
        "/api/v1/devices",
        "/api/v1/devices/{id}/maintenance",
    ):
        assert path in paths, path
    assert "429" in paths["/api/v1/ingest"]["post"]["responses"]
    # Every operation declares the errors it can answer (iotplatform/openapi.py).
    for path, operations in paths.items():
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert {"400", "401", "403", "429", "503"} <= declared, (method, path, declared)
            if "{" in path:
                assert "404" in declared, (method, path)
