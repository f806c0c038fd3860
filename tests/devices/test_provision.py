from typing import Any

import pytest
from rest_framework.test import APIClient

from devices import tokens
from devices.models import Device, DeviceCredential
from devices.services import ingest_key_create, ingest_key_revoke
from iotplatform.tenancy.models import Tenant


def provision(key: str | None, devices: Any, scheme: str = "Gateway") -> Any:
    client = APIClient()
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    return client.post("/api/v1/provision", {"devices": devices}, format="json")


SPEC = [
    {"serial": "G-1", "type": "pump", "name": "Pump G1"},
    {"serial": "G-2", "type": "battery sensor", "name": "Tag", "location": "Yard"},
]


@pytest.mark.django_db
def test_provisions_devices_and_returns_working_tokens(tenant: Tenant) -> None:
    _, key = ingest_key_create(tenant=tenant)
    response = provision(key, SPEC)
    assert response.status_code == 200, response.content
    answer = {d["serial"]: d for d in response.json()["devices"]}
    for serial in ("G-1", "G-2"):
        credential = DeviceCredential.objects.get(device__serial=serial, device__tenant=tenant)
        assert tokens.token_matches(answer[serial]["token"], credential.token_hash)
    assert Device.objects.get(serial="G-2").type.name == "battery sensor"
    # again: same devices, new tokens (the old ones revoked)
    again = {d["serial"]: d for d in provision(key, SPEC).json()["devices"]}
    assert again["G-1"]["id"] == answer["G-1"]["id"]
    assert again["G-1"]["token"] != answer["G-1"]["token"]
    assert Device.objects.filter(tenant=tenant).count() == 2


@pytest.mark.django_db
def test_refuses_bad_keys_and_input(tenant: Tenant, other_tenant: Tenant) -> None:
    key_obj, key = ingest_key_create(tenant=tenant)
    for missing_or_wrong in (None, "abc.def"):
        refused = provision(missing_or_wrong, SPEC)
        assert refused.status_code == 401  # not 403: the caller is unknown, not forbidden
        assert refused["WWW-Authenticate"].startswith("Gateway")
    bad = provision(key, [{"serial": "X", "type": "rocket", "name": "R"}])
    assert bad.status_code == 400 and "rocket" in str(bad.json())
    assert provision(key, []).status_code == 400
    assert provision(key, [{"serial": "X"}]).status_code == 400
    ingest_key_revoke(key=key_obj)
    assert provision(key, SPEC).status_code == 401
    assert not Device.objects.exists()


@pytest.mark.django_db
def test_a_key_provisions_only_into_its_own_tenant(
    tenant: Tenant, other_tenant: Tenant, other_device: Device
) -> None:
    _, key = ingest_key_create(tenant=tenant)
    answer = provision(key, [{"serial": other_device.serial, "type": "pump", "name": "Mine"}])
    assert answer.status_code == 200
    created = Device.objects.get(pk=answer.json()["devices"][0]["id"])
    assert created.tenant == tenant and created.pk != other_device.pk
    assert not DeviceCredential.objects.filter(device=other_device).exists()
