from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from devices.models import Device
from iotplatform.tenancy.models import Tenant
from simulator.fleet import Rates, make_fleet
from simulator.history import generate
from telemetry.models import LatestReading, Reading

START = 1_790_000_000.0


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_history_directory_round_trip(tmp_path: Path, tenant: Tenant) -> None:
    rates = Rates(outages_per_day=0, skews_per_day=0)
    fleet = make_fleet(3, 11, rates)
    result = generate(fleet, tmp_path, start=START, end=START + 6 * 3600, interval=60, rates=rates)
    out = run("telemetry_import", str(tmp_path), "--tenant", tenant.slug)
    assert "Created 3 device(s)" in out
    assert Reading.objects.filter(tenant=tenant).count() == result["points"]
    assert set(Device.objects.filter(tenant=tenant).values_list("serial", flat=True)) == {
        s.serial for s in fleet
    }
    first = fleet[0]
    latest = LatestReading.objects.filter(device__serial=first.serial)
    assert latest.count() == len(first.metrics)
    again = run("telemetry_import", str(tmp_path), "--tenant", tenant.slug)
    assert "0 readings stored" in again
    assert Reading.objects.filter(tenant=tenant).count() == result["points"]


@pytest.mark.django_db(transaction=True)
def test_export_format_files(tmp_path: Path, tenant: Tenant, device: Device) -> None:
    wide = tmp_path / "wide.csv"
    wide.write_text(
        "time,device_id,device,temperature,vibration\n"
        f"2026-01-01T00:00:00Z,{device.id},P-001,20.5,0.1\n"
        f"2026-01-01T00:00:01.250000Z,{device.id},P-001,21.0,\n"
        "2026-01-01T00:00:02Z,99,NOPE,1,1\n"
    )
    out = run("telemetry_import", str(wide), "--tenant", tenant.slug)
    assert "3 readings stored" in out and "NOPE" in out
    rows = list(Reading.objects.order_by("time", "metric").values_list("metric", "value"))
    assert rows == [("temperature", 20.5), ("vibration", 0.1), ("temperature", 21.0)]
    long = tmp_path / "long.csv"
    long.write_text(
        f"time,device_id,device,metric,value\n2026-01-01T00:00:05Z,{device.id},P-001,flow,12\n"
    )
    assert "1 readings stored" in run("telemetry_import", str(long), "--tenant", tenant.slug)


@pytest.mark.django_db
def test_bad_files_are_refused_clearly(tmp_path: Path, tenant: Tenant) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(CommandError, match="expected a header"):
        run("telemetry_import", str(bad), "--tenant", tenant.slug)
    with pytest.raises(CommandError, match="does not exist"):
        run("telemetry_import", str(tmp_path / "missing"), "--tenant", tenant.slug)
    with pytest.raises(CommandError, match="No tenant"):
        run("telemetry_import", str(bad), "--tenant", "nope")


@pytest.mark.django_db(transaction=True)
def test_values_the_api_would_refuse_are_skipped(
    tmp_path: Path, tenant: Tenant, device: Device
) -> None:
    long = tmp_path / "long.csv"
    long.write_text(
        "time,device_id,device,metric,value\n"
        "2026-01-01T00:00:00Z,1,P-001,flow,1e308\n"
        "2026-01-01T00:00:01Z,1,P-001,flow,inf\n"
        "2026-01-01T00:00:02Z,1,P-001,flow,nan\n"
        "2026-01-01T00:00:03Z,1,P-001,flow,12\n"
    )
    out = run("telemetry_import", str(long), "--tenant", tenant.slug)
    assert "1 readings stored" in out, out
    assert list(Reading.objects.values_list("value", flat=True)) == [12.0]
