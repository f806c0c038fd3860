from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from devices import tokens
from devices.models import DeviceCredential, IngestKey
from devices.services import device_types_install_catalog
from iotplatform.tenancy.models import Tenant


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip().splitlines()


@pytest.mark.django_db
def test_device_create_and_rotate_print_the_token_last(tenant: Tenant) -> None:
    device_types_install_catalog(tenant=tenant)
    lines = run("device_create", "acme", "pump", "Pump 12", "--serial", "P-12", "--tag", "a")
    token = lines[-1]
    credential = DeviceCredential.objects.get(device__serial="P-12")
    assert tokens.token_matches(token, credential.token_hash)
    rotated = run("device_rotate_token", "acme", "P-12")[-1]
    assert rotated != token
    active = DeviceCredential.objects.get(device__serial="P-12", revoked_at__isnull=True)
    assert tokens.token_matches(rotated, active.token_hash)


@pytest.mark.django_db
def test_ingest_key_create(tenant: Tenant) -> None:
    key = run("ingest_key_create", "acme", "--name", "hall gateway")[-1]
    stored = IngestKey.objects.get(tenant=tenant)
    assert stored.name == "hall gateway" and tokens.token_matches(key, stored.token_hash)


@pytest.mark.django_db
def test_device_commands_explain_bad_input(tenant: Tenant) -> None:
    device_types_install_catalog(tenant=tenant)
    with pytest.raises(CommandError, match=r"No device type 'rocket'.*pump"):
        run("device_create", "acme", "rocket", "R")
    with pytest.raises(CommandError, match="No tenant"):
        run("device_create", "nope", "pump", "R")
    with pytest.raises(CommandError, match="No device 'X-9'"):
        run("device_rotate_token", "acme", "X-9")
