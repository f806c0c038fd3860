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
def test_demo_setup_asks_for_a_running_simulated_fleet() -> None:
    from devices.models import SimulatedFleet

    run("demo_setup", "--simulate", "12")
    fleet = SimulatedFleet.objects.get(tenant__slug="acme")
    assert (fleet.desired, fleet.devices) == ("running", 12)
    run("demo_setup")  # without --simulate it leaves the fleet alone
    assert SimulatedFleet.objects.get(tenant__slug="acme").desired == "running"
