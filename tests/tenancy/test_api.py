from typing import Any

import pytest
from django.db.models import QuerySet
from rest_framework.test import APIClient

from iotplatform.tenancy.models import Role, Tenant
from iotplatform.tenancy.scoping import TenantAPIView
from iotplatform.tenancy.services import membership_set


@pytest.mark.django_db
class TestMe:
    def test_anonymous_is_refused(self) -> None:
        response = APIClient().get("/api/v1/me")
        assert response.status_code in (401, 403)

    def test_shows_current_tenant_and_role(self, api_as: Any, operator: Any) -> None:
        body = api_as(operator).get("/api/v1/me").json()
        assert body["current"]["tenant"]["slug"] == "acme"
        assert body["current"]["role"] == "operator"

    def test_x_tenant_switches_between_own_tenants(
        self, api_as: Any, viewer: Any, other_tenant: Tenant
    ) -> None:
        membership_set(tenant=other_tenant, user=viewer, role=Role.ADMIN)
        client = api_as(viewer)
        assert client.get("/api/v1/me").json()["current"]["tenant"]["slug"] == "acme"
        body = client.get("/api/v1/me", HTTP_X_TENANT="globex").json()
        assert (body["current"]["tenant"]["slug"], body["current"]["role"]) == ("globex", "admin")
        assert len(body["memberships"]) == 2

    def test_x_tenant_of_someone_else_is_404(
        self, api_as: Any, viewer: Any, other_tenant: Tenant
    ) -> None:
        response = api_as(viewer).get("/api/v1/me", HTTP_X_TENANT="globex")
        missing = api_as(viewer).get("/api/v1/me", HTTP_X_TENANT="no-such-tenant")
        assert response.status_code == missing.status_code == 404
        assert "globex" in response.json()["detail"]

    def test_user_without_tenant_is_refused(self, api_as: Any, django_user_model: Any) -> None:
        loner = django_user_model.objects.create_user("loner", password="x-very-long-1")
        response = api_as(loner).get("/api/v1/me")
        assert response.status_code == 403
        assert "not a member" in response.json()["detail"]


@pytest.mark.django_db
class TestMembers:
    def test_admin_lists_own_tenant_only(
        self, api_as: Any, admin: Any, viewer: Any, other_admin: Any
    ) -> None:
        body = api_as(admin).get("/api/v1/members").json()
        assert {m["username"] for m in body["results"]} == {"alice-admin", "vera-viewer"}

    @pytest.mark.parametrize("role_fixture", ["viewer", "operator"])
    def test_non_admins_are_refused(self, api_as: Any, request: Any, role_fixture: str) -> None:
        user = request.getfixturevalue(role_fixture)
        assert api_as(user).get("/api/v1/members").status_code == 403


def test_scoped_view_cannot_override_get_queryset() -> None:
    with pytest.raises(TypeError, match="tenant_queryset"):

        class Leaky(TenantAPIView):
            def get_queryset(self) -> QuerySet[Any]:  # pragma: no cover - never instantiated
                raise AssertionError
