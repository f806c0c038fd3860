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


@pytest.mark.django_db(transaction=True)
def test_the_demo_history_hands_its_wear_to_the_live_fleet(tmp_path, monkeypatch) -> None:
    import json

    from analytics.tasks import training_run_execute
    from simulator.fleet import make_fleet
    from telemetry.models import Reading

    monkeypatch.setattr(training_run_execute, "delay", lambda pk: None)
    call_command(
        "demo_setup", "--simulate", "6", "--history-hours", "1", "--state-dir", str(tmp_path),
        stdout=StringIO(), stderr=StringIO(),
    )  # fmt: skip
    assert Reading.objects.filter(tenant__slug="acme").exists()
    fleet = SimulatedFleet.objects.get(tenant__slug="acme")
    wear = json.loads((tmp_path / "acme" / "wear.json").read_text())
    specs = make_fleet(6, fleet.seed)
    assert wear["seed"] == fleet.seed and set(wear["devices"]) == {s.serial for s in specs}
    # in service: every device some way into its life, as the live fleet will go on from
    shares = [w["use"] / w["life_use"] for w in wear["devices"].values()]
    assert all(0 < share < 1 for share in shares) and max(shares) > 0.1
