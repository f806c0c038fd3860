import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from iotplatform.tenancy.models import Membership, Tenant


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_tenant_create_then_user_create_prints_a_working_password() -> None:
    assert "Created tenant plant-7" in run("tenant_create", "plant-7", "Plant Seven")
    out = run("user_create", "plant-7", "fieldeng", "--role", "operator")
    password = re.search(r"^Password: (\S+)$", out, re.M)
    assert password, out
    user = authenticate(username="fieldeng", password=password.group(1))
    assert user is not None
    membership = Membership.objects.get(user=user)
    assert (membership.tenant.slug, membership.role) == ("plant-7", "operator")


@pytest.mark.django_db
def test_user_create_with_given_password_does_not_print_it(tenant: Tenant) -> None:
    out = run("user_create", tenant.slug, "given", "--password", "a-long-enough-secret-42")
    assert "Password:" not in out
    assert authenticate(username="given", password="a-long-enough-secret-42")


@pytest.mark.django_db
def test_commands_report_bad_input_clearly(tenant: Tenant) -> None:
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        run("user_create", "nope", "someone")
    with pytest.raises(CommandError, match="slug"):
        run("tenant_create", tenant.slug, "Again")
    with pytest.raises(CommandError, match="timezone"):
        run("tenant_create", "tz-test", "TZ", "--timezone", "Nowhere/Else")


@pytest.mark.django_db
def test_demo_setup_is_idempotent() -> None:
    first = run("demo_setup")
    second = run("demo_setup")
    assert first == second
    assert set(Tenant.objects.values_list("name", flat=True)) == {"Acme Plant", "Globex Foundry"}
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles["acme-operator"] == "operator" and roles["acme-viewer"] == "viewer"
    assert authenticate(username="acme-admin", password="demo-pass-2024")


@pytest.mark.django_db
def test_demo_setup_keeps_one_working_simulator_key(tmp_path: object) -> None:
    from pathlib import Path

    from devices.models import IngestKey
    from devices.services import ingest_key_authenticate, ingest_key_revoke

    key_file = Path(str(tmp_path)) / "sim" / "acme.key"
    run("demo_setup", "--simulator-key-file", str(key_file))
    first = key_file.read_text().strip()
    run("demo_setup", "--simulator-key-file", str(key_file))
    assert key_file.read_text().strip() == first  # reused while it works
    found = ingest_key_authenticate(first)
    assert found is not None and found.tenant.slug == "acme"
    ingest_key_revoke(key=found)
    run("demo_setup", "--simulator-key-file", str(key_file))
    assert key_file.read_text().strip() != first
    assert IngestKey.objects.filter(revoked_at__isnull=True).count() == 1
