"""No glimpse of another tenant anywhere in a tenant admin's Django admin: changelists, their
filters and searches, related-object popups, autocomplete answers, add and change forms; and no
page that is not tenant-scoped at all (lockouts, schedules, groups), whatever Django
permissions the tenant admin holds."""

from typing import Any

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client, RequestFactory
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
    Group.objects.create(name="Globex auditors")  # platform-wide, named for them
    # A failed sign-in of theirs: a lockout-admin row naming them.
    Client().post("/accounts/login/", {"username": "gina-globex", "password": "wrong-guess"})
    return {"tenant": other_tenant, "device": device, "type": kind}


def _our_models() -> list[Any]:
    """Every registered admin: ours and the third-party ones (lockouts, schedules, groups)."""
    return list(django_admin.site._registry.items())


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
        f"{changelist}?_to_field=id&_popup=1",  # the raw-id / related-object lookup popup
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


def _relations(model: Any) -> list[Any]:
    return [f for f in model._meta.get_fields() if f.is_relation and f.concrete]


@pytest.mark.django_db
def test_autocomplete_answers_offer_only_own_rows(
    page_as: Any, admin: Any, device: Device, foreign: dict[str, Any]
) -> None:
    """Django's autocomplete view answers for any relation of any registered model, whether or
    not a form uses it: every answer holds only the admin's tenants' rows."""
    client = page_as(admin)
    answered: dict[str, bytes] = {}
    for model, _ in _our_models():
        for field in _relations(model):
            if field.related_model not in django_admin.site._registry:
                continue
            for term in ("", "Glob", "secret", "gina"):
                response = client.get(
                    reverse("admin:autocomplete"),
                    {
                        "app_label": model._meta.app_label,
                        "model_name": model._meta.model_name,
                        "field_name": field.name,
                        "term": term,
                    },
                )
                assert response.status_code in (200, 403, 404), (model, field.name, response)
                for word in FOREIGN:
                    assert word not in response.content, (model, field.name, term, word)
                if response.status_code == 200 and not term:
                    answered[f"{model._meta.label}.{field.name}"] = response.content
    # Not vacuous: the admin's own rows are offered.
    assert device.type.name.encode() in answered["devices.Device.type"]
    assert b"Acme Plant" in answered["devices.Device.tenant"]


@pytest.mark.django_db
def test_change_forms_of_own_rows_offer_no_foreign_related_objects(
    page_as: Any, admin: Any, device: Device, foreign: dict[str, Any]
) -> None:
    device_maintenance_set(device=device, on=True)
    ingest_key_create(tenant=device.tenant, name="acme-gateway")
    request = RequestFactory().get("/admin/")
    request.user = admin
    client = page_as(admin)
    seen = 0
    for model, model_admin in _our_models():
        if not model_admin.has_module_permission(request):
            continue
        for obj in model_admin.get_queryset(request)[:3]:
            url = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk]
            )
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            seen += 1
            for word in FOREIGN:
                assert word not in response.content, (url, word)
    assert seen >= 6  # a tenant, a membership, a user, a type, a device, a key, a status change


NOT_TENANT_SCOPED = ["axes", "django_celery_beat", "auth.group"]


@pytest.mark.django_db
def test_admin_pages_that_are_not_tenant_scoped_are_for_platform_staff_only(
    page_as: Any, admin: Any, foreign: dict[str, Any]
) -> None:
    """Lockouts (naming every tenant's people), schedules and groups belong to the whole
    platform: a tenant admin is refused them even holding every Django permission, since a
    tenant admin's rights come from the membership, not from permission flags."""
    admin.user_permissions.set(Permission.objects.all())
    root = get_user_model().objects.create_superuser("root", password="root-pass-123456")
    tenant_client, root_client = page_as(get_user_model().objects.get(pk=admin.pk)), page_as(root)
    checked = []
    for model in django_admin.site._registry:
        label = model._meta.label_lower
        if not any(label == name or label.startswith(name + ".") for name in NOT_TENANT_SCOPED):
            continue
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        for url in (reverse(f"{name}_changelist"), reverse(f"{name}_add")):
            assert tenant_client.get(url).status_code in (302, 403), url
        assert root_client.get(reverse(f"{name}_changelist")).status_code == 200
        checked.append(label)
    assert "axes.accessattempt" in checked and "django_celery_beat.periodictask" in checked
    index = tenant_client.get(reverse("admin:index"))
    assert index.status_code == 200
    for word in (b"Access attempts", b"Periodic tasks", b"Groups"):
        assert word not in index.content
    lockouts = root_client.get(reverse("admin:axes_accessattempt_changelist"))
    assert b"gina-globex" in lockouts.content  # platform staff do see them
