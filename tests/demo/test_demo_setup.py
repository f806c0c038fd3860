from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from devices.models import DeviceType, SimulatedFleet
from iotplatform.tenancy.models import Membership, Tenant


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_demo_setup_is_idempotent() -> None:
    first = run("demo_setup")
    second = run("demo_setup")
    assert first == second
    assert set(Tenant.objects.values_list("name", flat=True)) == {"Acme Plant", "Globex Foundry"}
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles["acme-operator"] == "operator" and roles["acme-viewer"] == "viewer"
    assert authenticate(
        RequestFactory().post("/"), username="acme-admin", password="demo-pass-2024"
    )


@pytest.mark.django_db
def test_demo_setup_asks_for_a_running_simulated_fleet() -> None:
    run("demo_setup", "--simulate", "12")
    fleet = SimulatedFleet.objects.get(tenant__slug="acme")
    assert (fleet.desired, fleet.devices) == ("running", 12)
    run("demo_setup")  # without --simulate it leaves the fleet alone
    assert SimulatedFleet.objects.get(tenant__slug="acme").desired == "running"


@pytest.mark.django_db
def test_demo_tenants_have_the_standard_device_types() -> None:
    run("demo_setup")
    for slug in ("acme", "globex"):
        names = set(DeviceType.objects.filter(tenant__slug=slug).values_list("name", flat=True))
        assert {"pump", "motor", "compressor"} <= names, (slug, names)
