from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from iotplatform.tenancy.models import Membership, Role, Tenant
from iotplatform.tenancy.services import (
    membership_remove,
    membership_set,
    tenant_create,
    user_create,
)


@pytest.mark.django_db
class TestTenantCreate:
    def test_creates_with_timezone(self) -> None:
        tenant = tenant_create(slug="acme", name="Acme Plant", timezone="Europe/Berlin")
        assert Tenant.objects.get(slug="acme").timezone == "Europe/Berlin"
        assert tenant.name == "Acme Plant"

    def test_duplicate_slug_is_refused(self) -> None:
        tenant_create(slug="acme", name="Acme")
        with pytest.raises(ValidationError) as exc:
            tenant_create(slug="acme", name="Other")
        assert "slug" in exc.value.message_dict
        assert Tenant.objects.count() == 1

    @pytest.mark.parametrize(
        ("slug", "timezone", "field"),
        [("Bad Slug", "UTC", "slug"), ("ok", "Mars/Olympus", "timezone")],
    )
    def test_invalid_input_names_the_field(self, slug: str, timezone: str, field: str) -> None:
        with pytest.raises(ValidationError) as exc:
            tenant_create(slug=slug, name="X", timezone=timezone)
        assert field in exc.value.message_dict
        assert not Tenant.objects.exists()


@pytest.mark.django_db
class TestUserCreate:
    def test_generated_password_works_and_role_is_set(self, tenant: Tenant) -> None:
        user, password = user_create(tenant=tenant, username="op", role=Role.OPERATOR)
        assert len(password) >= 12
        assert authenticate(RequestFactory().post("/"), username="op", password=password) == user
        assert Membership.objects.get(user=user).role == Role.OPERATOR
        assert not user.is_staff

    def test_admin_gets_admin_site_access(self, tenant: Tenant) -> None:
        user, _ = user_create(tenant=tenant, username="boss", role=Role.ADMIN)
        assert user.is_staff and not user.is_superuser

    def test_unknown_role_writes_nothing(self, tenant: Tenant) -> None:
        with pytest.raises(ValidationError):
            user_create(tenant=tenant, username="x", role="overlord")
        assert not Membership.objects.exists()

    def test_weak_password_is_refused(self, tenant: Tenant) -> None:
        with pytest.raises(ValidationError):
            user_create(tenant=tenant, username="weak", password="123")

    def test_existing_username_is_refused(self, tenant: Tenant) -> None:
        user_create(tenant=tenant, username="dup")
        with pytest.raises(ValidationError) as exc:
            user_create(tenant=tenant, username="dup")
        assert "username" in exc.value.message_dict


@pytest.mark.django_db
def test_membership_set_changes_role_in_place(tenant: Tenant, viewer: Any) -> None:
    membership_set(tenant=tenant, user=viewer, role=Role.OPERATOR)
    assert Membership.objects.get(user=viewer, tenant=tenant).role == Role.OPERATOR
    assert Membership.objects.filter(user=viewer).count() == 1


@pytest.mark.django_db
def test_membership_remove_takes_the_user_out_of_one_tenant(
    tenant: Tenant, other_tenant: Tenant, viewer: Any
) -> None:
    membership_set(tenant=other_tenant, user=viewer, role=Role.VIEWER)
    assert membership_remove(tenant=tenant, user=viewer)
    assert not membership_remove(tenant=tenant, user=viewer)
    assert list(Membership.objects.filter(user=viewer).values_list("tenant__slug", flat=True)) == [
        "globex"
    ]


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.OPERATOR, False),
        (Role.OPERATOR, Role.OPERATOR, True),
        (Role.OPERATOR, Role.ADMIN, False),
        (Role.ADMIN, Role.VIEWER, True),
        (Role.ADMIN, Role.ADMIN, True),
    ],
)
def test_role_order(role: str, required: str, allowed: bool) -> None:
    assert Role.allows(role, required) is allowed
