import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command, load_command_class
from django.test import RequestFactory

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
    user = authenticate(RequestFactory().post("/"), username="fieldeng", password=password.group(1))
    assert user is not None
    membership = Membership.objects.get(user=user)
    assert (membership.tenant.slug, membership.role) == ("plant-7", "operator")


@pytest.mark.django_db
def test_user_create_with_given_password_does_not_print_it(tenant: Tenant) -> None:
    out = run("user_create", tenant.slug, "given", "--password", "a-long-enough-secret-42")
    assert "Password:" not in out
    assert authenticate(
        RequestFactory().post("/"), username="given", password="a-long-enough-secret-42"
    )


@pytest.mark.django_db
def test_commands_report_bad_input_clearly(tenant: Tenant) -> None:
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        run("user_create", "nope", "someone")
    with pytest.raises(CommandError, match="slug"):
        run("tenant_create", tenant.slug, "Again")
    with pytest.raises(CommandError, match="timezone"):
        run("tenant_create", "tz-test", "TZ", "--timezone", "Nowhere/Else")


@pytest.mark.django_db
def test_a_new_tenant_can_take_a_pump_at_once() -> None:
    """tenant_create installs the standard catalogue, so the next command a field engineer types
    (device_create <tenant> pump …) works."""
    run("tenant_create", "plant-9", "Plant Nine")
    out = run("device_create", "plant-9", "pump", "Pump 1", "--serial", "P-0001")
    assert "Pump 1" in out, out
    assert (
        "standard device types" in load_command_class("iotplatform.tenancy", "tenant_create").help
    )
