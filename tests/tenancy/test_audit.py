"""The audit log: what people change through the API and pages is recorded with who, from
where and what changed, in its tenant only; the platform's own bookkeeping is not; sign-ins and
failed ones are; admins alone see it; it is kept for the tenant's retention."""

from base64 import b64encode
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils import timezone

from devices.models import Device, DeviceStatus
from devices.services import device_types_install_catalog
from iotplatform.tenancy.audit import audit_retention_apply
from iotplatform.tenancy.models import AuditEvent, Role, Tenant

from .. import factories, servers

pytestmark = pytest.mark.django_db


def _basic(username: str, address: str = "10.1.2.3") -> Client:
    token = b64encode(f"{username}:{factories.PASSWORD}".encode()).decode()
    return Client(REMOTE_ADDR=address, HTTP_AUTHORIZATION=f"Basic {token}")


def test_a_change_through_the_api_is_recorded_with_who_where_and_what(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    device_types_install_catalog(tenant=tenant)
    factories.make_user(tenant, Role.ADMIN, "opal")
    api = _basic("opal")
    made = api.post(
        "/api/v1/devices",
        {"type": "pump", "name": "Pump 12", "location": "Hall 2"},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    device = Device.objects.get(tenant=tenant, name="Pump 12")
    renamed = api.patch(
        f"/api/v1/devices/{device.pk}", {"name": "Pump 12a"}, content_type="application/json"
    )
    assert renamed.status_code == 200, renamed.content
    events = list(AuditEvent.objects.filter(object_type="device").order_by("id"))
    created, changed = events[0], events[-1]  # (between them: the serial it was given)
    assert (created.action, created.actor_name, created.address) == ("created", "opal", "10.1.2.3")
    assert created.tenant == tenant and created.changes["name"] == [None, "Pump 12"]
    assert (changed.action, changed.changes) == ("changed", {"name": ["Pump 12", "Pump 12a"]})
    assert not AuditEvent.objects.filter(tenant=other_tenant).exists()


def test_the_platforms_own_bookkeeping_is_not_recorded(tenant: Tenant) -> None:
    device = factories.make_device(tenant, name="Press")
    before = AuditEvent.objects.count()
    device.status, device.last_seen = DeviceStatus.HEALTHY, timezone.now()
    device.save()
    assert AuditEvent.objects.count() == before
    device.location = "Hall 9"
    device.save()
    event = AuditEvent.objects.latest("id")
    assert event.actor_name == "system" and list(event.changes) == ["location"]
    assert event.changes["location"][1] == "Hall 9"


def test_sign_ins_and_failed_ones_are_events_of_the_persons_tenants(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    factories.make_user(tenant, Role.VIEWER, "vera")
    Client(REMOTE_ADDR="10.9.9.9").post(
        "/accounts/login/", {"username": "vera", "password": "wrong-guess"}
    )
    Client(REMOTE_ADDR="10.9.9.9").post(
        "/accounts/login/", {"username": "vera", "password": factories.PASSWORD}
    )
    events = list(
        AuditEvent.objects.filter(tenant=tenant, action__startswith="login").order_by("id")
    )
    assert [(e.action, e.actor_name) for e in events] == [
        ("login_failed", "vera"),
        ("login", "vera"),
    ]
    assert events[0].actor is None and events[0].address == "10.9.9.9"
    assert not AuditEvent.objects.filter(tenant=other_tenant).exists()


def test_admins_alone_see_their_tenants_log(
    tenant: Tenant, other_tenant: Tenant, page_as: Any
) -> None:
    factories.make_device(tenant, name="Ours")
    factories.make_device(other_tenant, name="Theirs")
    page = page_as(factories.make_user(tenant, Role.ADMIN)).get("/audit/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Ours" in text and "Theirs" not in text
    devices_only = page_as(factories.make_user(tenant, Role.ADMIN)).get("/audit/?type=device")
    assert "Ours" in devices_only.content.decode()
    assert page_as(factories.make_user(tenant, Role.OPERATOR)).get("/audit/").status_code == 403
    huge = page_as(factories.make_user(tenant, Role.ADMIN)).get("/audit/?before=" + "9" * 30)
    assert huge.status_code == 200  # not a page of events past the id range: the newest


def test_events_are_kept_for_the_tenants_retention(tenant: Tenant, other_tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(retention_days=30)
    now = timezone.now()
    for t in (tenant, other_tenant):
        for age in (40, 10):
            AuditEvent.objects.create(
                tenant=t, at=now - timedelta(days=age), actor_name="x", action="login"
            )
    assert audit_retention_apply(now=now) == 1
    kept = sorted((e.tenant_id, (now - e.at).days) for e in AuditEvent.objects.all())
    assert kept == sorted([(tenant.id, 10), (other_tenant.id, 40), (other_tenant.id, 10)])


@pytest.mark.django_db(transaction=True)
def test_a_tenant_deleted_takes_its_log_and_records_nothing_of_its_end(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    factories.make_user(tenant)
    factories.make_user(other_tenant)
    tenant.delete()  # its memberships go with it: no event may point at it
    assert not AuditEvent.objects.filter(tenant_id=tenant.pk).exists()
    assert AuditEvent.objects.filter(tenant=other_tenant, object_type="membership").exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_through_the_asgi_server_the_person_and_address_are_recorded(tenant: Tenant) -> None:
    """As deployed (uvicorn, the middleware in a thread of the ASGI handler)."""
    factories.make_user(tenant, Role.ADMIN, "ada")
    device = factories.make_device(tenant, name="Kiln")
    with servers.asgi_server() as url:
        answer = requests.patch(
            f"{url}/api/v1/devices/{device.pk}", json={"name": "Kiln 2"},
            auth=("ada", factories.PASSWORD), timeout=10,
        )  # fmt: skip
    assert answer.status_code == 200, answer.text
    event = AuditEvent.objects.filter(object_type="device").latest("id")
    assert (event.actor_name, event.address) == ("ada", "127.0.0.1")
    assert event.changes == {"name": ["Kiln", "Kiln 2"]}
