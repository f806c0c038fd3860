"""The Django admin: platform staff see everything, tenant admins only their tenant's rows."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from devices.models import Device
from iotplatform.tenancy.models import Membership, Role, Tenant

from .. import factories


@pytest.fixture
def platform_staff(db: None) -> Any:
    return get_user_model().objects.create_superuser("root", password="root-pass-123456")


@pytest.mark.django_db
class TestTenantAdmin:
    def test_sees_only_own_devices(
        self, page_as: Any, admin: Any, device: Device, other_device: Device
    ) -> None:
        page = page_as(admin).get("/admin/devices/device/")
        assert page.status_code == 200
        assert b"Pump 1" in page.content
        assert b"Globex Press" not in page.content

    def test_foreign_object_is_404_like_a_missing_one(
        self, page_as: Any, admin: Any, other_device: Device
    ) -> None:
        client = page_as(admin)
        assert client.get(f"/admin/devices/device/{other_device.pk}/change/").status_code == 404
        assert client.get("/admin/devices/device/999999/change/").status_code == 404
        assert client.get(f"/admin/devices/device/{other_device.pk}/delete/").status_code == 404
        other_tenant_page = f"/admin/tenancy/tenant/{other_device.tenant_id}/change/"
        assert client.get(other_tenant_page).status_code == 404

    def test_cannot_edit_foreign_device_by_post(
        self, page_as: Any, admin: Any, other_device: Device
    ) -> None:
        response = page_as(admin).post(
            f"/admin/devices/device/{other_device.pk}/change/",
            {
                "name": "hijacked",
                "serial": "X",
                "type": other_device.type_id,
                "tenant": other_device.tenant_id,
                "status": "healthy",
            },
        )
        assert response.status_code == 404
        other_device.refresh_from_db()
        assert other_device.name == "Globex Press"

    def test_cannot_create_a_device_in_another_tenant(
        self, page_as: Any, admin: Any, tenant: Tenant, other_tenant: Tenant, device: Device
    ) -> None:
        response = page_as(admin).post(
            "/admin/devices/device/add/",
            {
                "tenant": other_tenant.pk,
                "type": device.type_id,
                "name": "Sneaky",
                "serial": "S-1",
                "status": "offline",
                "tags": "[]",
            },
        )
        assert response.status_code == 200  # the form comes back with an error
        assert b"Select a valid choice" in response.content
        assert not Device.objects.filter(name="Sneaky").exists()

    def test_users_page_lists_own_people_and_hides_powers(
        self, page_as: Any, admin: Any, viewer: Any, other_admin: Any
    ) -> None:
        client = page_as(admin)
        listing = client.get("/admin/auth/user/")
        assert b"vera-viewer" in listing.content and b"gary-globex" not in listing.content
        assert client.get(f"/admin/auth/user/{other_admin.pk}/change/").status_code == 404
        form = client.get(f"/admin/auth/user/{viewer.pk}/change/")
        assert b"is_superuser" not in form.content and b"is_staff" not in form.content

    def test_adds_a_person_to_own_tenant(self, page_as: Any, admin: Any, tenant: Tenant) -> None:
        response = page_as(admin).post(
            "/admin/auth/user/add/",
            {
                "username": "newop",
                "password": "a-long-enough-secret-42",
                "email": "",
                "tenant": tenant.pk,
                "role": Role.OPERATOR,
            },
        )
        assert response.status_code == 302, response.content[:2000]
        created = get_user_model().objects.get(username="newop")
        assert not created.is_superuser
        membership = Membership.objects.get(user=created)
        assert (membership.tenant, membership.role) == (tenant, Role.OPERATOR)
        signed_in = Client().post(
            "/accounts/login/", {"username": "newop", "password": "a-long-enough-secret-42"}
        )
        assert signed_in.status_code == 302  # the new person can sign in

    def test_cannot_add_tenants(self, page_as: Any, admin: Any) -> None:
        assert page_as(admin).get("/admin/tenancy/tenant/add/").status_code == 403

    def test_operator_has_no_admin(self, page_as: Any, operator: Any) -> None:
        response = page_as(operator).get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_platform_staff_see_every_tenant(
    page_as: Any, platform_staff: Any, device: Device, other_device: Device
) -> None:
    client = page_as(platform_staff)
    page = client.get("/admin/devices/device/")
    assert b"Pump 1" in page.content and b"Globex Press" in page.content
    assert client.get(f"/admin/devices/device/{other_device.pk}/change/").status_code == 200
    assert client.get("/admin/tenancy/tenant/add/").status_code == 200


@pytest.mark.django_db
def test_admin_of_two_tenants_sees_both(page_as: Any, other_tenant: Tenant) -> None:
    tenant = factories.make_tenant("third", "Third")
    user = factories.make_user(tenant, Role.ADMIN, "double")
    Membership.objects.create(user=user, tenant=other_tenant, role=Role.ADMIN)
    factories.make_device(other_tenant, name="In Globex")
    factories.make_device(tenant, name="In Third")
    page = page_as(user).get("/admin/devices/device/")
    assert b"In Globex" in page.content and b"In Third" in page.content


@pytest.mark.django_db
class TestDeviceCredentialsInAdmin:
    def test_adding_a_device_shows_its_token_once(
        self, page_as: Any, admin: Any, tenant: Tenant
    ) -> None:
        from devices import tokens
        from devices.models import DeviceCredential
        from devices.services import device_types_install_catalog

        pump = device_types_install_catalog(tenant=tenant)[0]
        client = page_as(admin)
        response = client.post(
            "/admin/devices/device/add/",
            {
                "tenant": tenant.pk,
                "type": pump.pk,
                "name": "Admin pump",
                "serial": "AP-1",
                "status": "offline",
                "tags": "[]",
                "credentials-TOTAL_FORMS": "0",
                "credentials-INITIAL_FORMS": "0",
            },
            follow=True,
        )
        assert response.status_code == 200
        shown = [str(m) for m in response.context["messages"]]
        token = next(m.rsplit(" ", 1)[1] for m in shown if "shown once" in m)
        credential = DeviceCredential.objects.get(device__serial="AP-1")
        assert tokens.token_matches(token, credential.token_hash)
        # Shown once: the device's page does not show it again.
        page = client.get(f"/admin/devices/device/{credential.device_id}/change/")
        assert token.encode() not in page.content

    def test_rotate_action_revokes_and_shows_a_new_token(
        self, page_as: Any, admin: Any, tenant: Tenant
    ) -> None:
        from devices import tokens
        from devices.models import DeviceCredential
        from devices.services import device_create, device_types_install_catalog

        pump = device_types_install_catalog(tenant=tenant)[0]
        device, old = device_create(tenant=tenant, device_type=pump, name="R")
        response = page_as(admin).post(
            "/admin/devices/device/",
            {"action": "rotate_tokens", "_selected_action": [device.pk]},
            follow=True,
        )
        shown = [str(m) for m in response.context["messages"]]
        new = next(m.rsplit(" ", 1)[1] for m in shown if "shown once" in m)
        active = DeviceCredential.objects.get(device=device, revoked_at__isnull=True)
        assert tokens.token_matches(new, active.token_hash) and new != old


@pytest.mark.django_db
class TestPermissionMatrix:
    """Every admin class answers the five permission questions through one rule (the
    ``AdminPermissionsMixin``); these pin the answers for each kind of person and object."""

    @staticmethod
    def _answers(model: Any, user: Any, obj: Any) -> dict[str, bool]:
        from django.contrib import admin as django_admin
        from django.test import RequestFactory

        model_admin = django_admin.site._registry[model]
        request = RequestFactory().get("/admin/")
        request.user = user
        return {
            "module": model_admin.has_module_permission(request),
            "add": model_admin.has_add_permission(request),
            "view": model_admin.has_view_permission(request, obj),
            "change": model_admin.has_change_permission(request, obj),
            "delete": model_admin.has_delete_permission(request, obj),
        }

    def test_tenant_admin_on_own_and_foreign_devices(
        self, admin: Any, device: Device, other_device: Device
    ) -> None:
        assert set(self._answers(Device, admin, device).values()) == {True}
        foreign = self._answers(Device, admin, other_device)
        assert foreign == {
            "module": True,
            "add": True,
            "view": False,
            "change": False,
            "delete": False,
        }

    def test_staff_without_an_admin_membership_gets_nothing(
        self, operator: Any, device: Device
    ) -> None:
        operator.is_staff = True
        operator.save()
        assert set(self._answers(Device, operator, device).values()) == {False}
        assert set(self._answers(get_user_model(), operator, None).values()) == {False}

    def test_platform_staff_may_do_everything(
        self, platform_staff: Any, other_device: Device, other_admin: Any
    ) -> None:
        assert set(self._answers(Device, platform_staff, other_device).values()) == {True}
        assert set(self._answers(Tenant, platform_staff, other_device.tenant).values()) == {True}
        assert set(self._answers(get_user_model(), platform_staff, other_admin).values()) == {True}

    def test_tenant_admin_edits_but_neither_adds_nor_deletes_tenants(
        self, admin: Any, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        own = self._answers(Tenant, admin, tenant)
        assert own == {"module": True, "add": False, "view": True, "change": True, "delete": False}
        assert not any(self._answers(Tenant, admin, other_tenant)[k] for k in ("view", "change"))

    def test_tenant_admin_manages_own_people_but_cannot_delete_themselves(
        self, admin: Any, viewer: Any, other_admin: Any
    ) -> None:
        user_model = get_user_model()
        assert set(self._answers(user_model, admin, viewer).values()) == {True}
        itself = self._answers(user_model, admin, admin)
        assert [k for k, allowed in itself.items() if not allowed] == ["delete"]
        foreign = self._answers(user_model, admin, other_admin)
        assert not any(foreign[k] for k in ("view", "change", "delete"))

    def test_status_history_is_read_only(self, admin: Any, device: Device) -> None:
        from devices.models import DeviceStatusChange

        answers = self._answers(DeviceStatusChange, admin, None)
        assert answers["view"] and not answers["add"] and not answers["change"]
