"""No glimpse of another tenant anywhere in a tenant admin's Django admin: changelists, their
filters and searches, add and change forms."""

from typing import Any

import pytest
from django.contrib import admin as django_admin
from django.urls import reverse

from devices.models import Device, DeviceType
from devices.services import device_maintenance_set, ingest_key_create
from iotplatform.tenancy.models import Role, Tenant

from .. import factories

FOREIGN = [b"Globex", b"globex", b"secret-type", b"G-SECRET", b"gina-globex"]


@pytest.fixture
def foreign(other_tenant: Tenant) -> dict[str, Any]:
    """Another tenant with something of every kind the admin lists."""
    kind = DeviceType.objects.create(tenant=other_tenant, name="secret-type", metrics={})
    device = factories.make_device(other_tenant, kind, name="Globex Press", serial="G-SECRET")
    device_maintenance_set(device=device, on=True)  # a status change row
    ingest_key_create(tenant=other_tenant, name="globex-gateway")
    factories.make_user(other_tenant, Role.ADMIN, "gina-globex")
    return {"tenant": other_tenant, "device": device, "type": kind}


def _our_models() -> list[Any]:
    return [
        (model, model_admin)
        for model, model_admin in django_admin.site._registry.items()
        if model._meta.app_label in ("tenancy", "devices", "telemetry", "auth")
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model", [m for m, _ in _our_models()], ids=[m._meta.label for m, _ in _our_models()]
)
def test_no_page_of_a_tenant_admin_shows_another_tenant(
    model: Any, page_as: Any, admin: Any, device: Device, foreign: dict[str, Any]
) -> None:
    client = page_as(admin)
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    changelist = reverse(f"{name}_changelist")
    pages = [
        changelist,
        f"{changelist}?tenant__id__exact={foreign['tenant'].id}",
        f"{changelist}?q=Press",  # matches their device by name
        reverse(f"{name}_add"),
    ]
    for url in pages:
        response = client.get(url)
        if response.status_code in (403, 404):  # not theirs to see at all
            continue
        assert response.status_code in (200, 302), (url, response.status_code)
        for word in FOREIGN:
            assert word not in response.content, (url, word)


@pytest.mark.django_db
def test_device_filters_offer_only_own_tenant_and_type_names(
    page_as: Any, admin: Any, device: Device, foreign: dict[str, Any]
) -> None:
    page = page_as(admin).get(reverse("admin:devices_device_changelist"))
    assert page.status_code == 200
    assert device.type.name.encode() in page.content  # own type name offered
    assert b"secret-type" not in page.content and b"Globex" not in page.content


@pytest.mark.django_db
def test_platform_staff_still_see_every_tenant_in_the_filters(
    page_as: Any, device: Device, foreign: dict[str, Any]
) -> None:
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", password="root-pass-123456")
    page = page_as(root).get(reverse("admin:devices_device_changelist"))
    assert b"secret-type" in page.content and b"Globex Foundry" in page.content
