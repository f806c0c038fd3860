"""The dashboard's fleet summary: counts by status, average of the active devices' latest
temperatures, anomaly rate against each device's warning limits, health and freshness."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from devices.models import Device, DeviceStatus, DeviceType
from iotplatform.tenancy.models import Tenant

from .. import factories
from .known_readings import write


@pytest.mark.django_db
def test_summary_figures(api_as: Any, viewer: Any, tenant: Tenant, other_tenant: Tenant) -> None:
    kind = DeviceType.objects.create(
        tenant=tenant,
        name="pump",
        metrics={"temperature": {"warn_high": 75}, "pressure": {"warn_low": 2, "warn_high": 9}},
    )
    now = timezone.now()
    a = factories.make_device(
        tenant, kind, status=DeviceStatus.HEALTHY, health=90, rul_hours=20.0, last_seen=now
    )
    b = factories.make_device(
        tenant,
        kind,
        status=DeviceStatus.ANOMALY,
        health=50,
        rul_hours=150.0,
        last_seen=now - timedelta(seconds=30),
        desired_config={"thresholds": {"temperature": {"warn_high": 90}}},  # its own limit
    )
    c = factories.make_device(tenant, kind, status=DeviceStatus.OFFLINE)
    factories.make_device(tenant, kind, status=DeviceStatus.MAINTENANCE, rul_hours=2.0)  # serviced
    theirs = factories.make_device(
        other_tenant, status=DeviceStatus.HEALTHY, last_seen=now, rul_hours=1.0
    )
    recent = now - timedelta(minutes=1)
    write(
        [
            (recent, tenant.id, a.id, "temperature", 80.0),  # beyond a's 75
            (recent, tenant.id, b.id, "temperature", 80.0),  # within b's own 90
            (recent, tenant.id, b.id, "pressure", 1.0),  # below 2
            (recent, tenant.id, b.id, "flow", 1e9),  # no limits: counted, never beyond
            (recent - timedelta(seconds=1), tenant.id, c.id, "temperature", 20.0),  # offline
            (now - timedelta(minutes=10), tenant.id, a.id, "pressure", 100.0),  # too old
            (recent, other_tenant.id, theirs.id, "temperature", 500.0),
        ]
    )
    body = api_as(viewer).get("/api/v1/telemetry/summary").json()
    assert body["devices"] == {
        "total": 4,
        "active": 2,
        "healthy": 1,
        "anomaly": 1,
        "offline": 1,
        "maintenance": 1,
    }
    assert body["avg_temperature"] == pytest.approx(80.0)  # the offline device's 20 left out
    assert body["readings_5m"] == 5
    assert body["anomaly_rate_5m"] == pytest.approx(2 / 5)
    assert body["alerts_5m"] == 0
    assert body["avg_health"] == pytest.approx(70)
    assert (body["fail_24h"], body["fail_7d"]) == (1, 2)  # not the serviced one, not theirs
    assert 0 <= body["freshness_seconds"] < 5


@pytest.mark.django_db
def test_an_empty_tenant_has_no_figures(api_as: Any, viewer: Any, device: Device) -> None:
    body = api_as(viewer).get("/api/v1/telemetry/summary").json()
    assert body["devices"]["total"] == 1 and body["devices"]["offline"] == 1
    assert body["readings_5m"] == 0
    assert body["anomaly_rate_5m"] is None
    assert body["avg_temperature"] is None and body["avg_health"] is None
    assert body["freshness_seconds"] is None
    assert (body["fail_24h"], body["fail_7d"]) == (0, 0)


@pytest.mark.django_db
def test_needs_attention_puts_the_shortest_remaining_life_first(
    page_as: Any, viewer: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    def make(name: str, status: str, rul: float | None, health: float | None = None) -> Device:
        return factories.make_device(tenant, name=name, status=status, rul_hours=rul, health=health)

    make("Fine", DeviceStatus.HEALTHY, 900.0, 95)  # a long life ahead: not listed
    make("Wearing", DeviceStatus.HEALTHY, 60.0, 40)  # healthy but failing within the week
    make("Failing", DeviceStatus.ANOMALY, 5.0, 10)
    make("Silent", DeviceStatus.OFFLINE, None)
    make("Odd", DeviceStatus.ANOMALY, None, 70)
    factories.make_device(other_tenant, name="Theirs", status=DeviceStatus.ANOMALY, rul_hours=1.0)
    page = page_as(viewer).get("/").content.decode()
    table = page[page.index('id="attention"') : page.index("All devices")]
    names = [n for n in ("Failing", "Wearing", "Odd", "Silent", "Fine", "Theirs") if n in table]
    assert sorted(names, key=table.index) == ["Failing", "Wearing", "Odd", "Silent"]
    assert "RUL 5 h" in table
    assert 'data-card="fail_24h">1<' in page and 'data-card="fail_7d">2<' in page


@pytest.mark.django_db
def test_summary_needs_a_login(client: Any) -> None:
    assert client.get("/api/v1/telemetry/summary").status_code in (401, 403)
