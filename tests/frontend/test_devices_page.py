from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices.models import Device
from iotplatform.tenancy.models import Tenant

from .. import factories


@pytest.mark.django_db
class TestDevicesPage:
    def test_lists_own_devices_with_status_and_lowest_rul_marked(
        self, page_as: Any, viewer: Any, tenant: Tenant, device: Device, other_device: Device
    ) -> None:
        for i in range(10):
            factories.make_device(tenant, name=f"Unit {i}", rul_hours=100.0 + i)
        factories.make_device(tenant, name="Worn", rul_hours=3.0)
        page = page_as(viewer).get("/devices/")
        html = page.content.decode()
        assert page.status_code == 200
        assert "Pump 1" in html and "Globex Press" not in html
        worn_row = html[html.index("Worn") - 400 : html.index("Worn")]
        assert 'class="low-rul"' in worn_row
        assert html.count('class="low-rul"') == 1

    def test_a_status_pill_says_why_the_device_is_in_its_status(
        self, page_as: Any, viewer: Any, tenant: Tenant
    ) -> None:
        from devices.models import DeviceStatus, DeviceStatusChange

        odd = factories.make_device(tenant, name="Odd", status=DeviceStatus.ANOMALY, health=41.6)
        back = factories.make_device(tenant, name="Back", status=DeviceStatus.HEALTHY)
        from django.utils import timezone

        now = timezone.now()
        for minutes, device, to, reason in (
            (3, odd, DeviceStatus.ANOMALY, "vibration 3.2 sd above its baseline"),
            (2, back, DeviceStatus.ANOMALY, "a spike"),
            (1, back, DeviceStatus.HEALTHY, ""),  # the reason of an earlier status is not shown
        ):
            DeviceStatusChange.objects.create(
                tenant=tenant, device=device, from_status="healthy", to_status=to,
                reason=reason, at=now - timedelta(minutes=minutes),
            )  # fmt: skip
        html = page_as(viewer).get("/devices/").content.decode()
        assert 'title="vibration 3.2 sd above its baseline">Anomaly<' in html
        assert "a spike" not in html
        odd_row = html[html.index("Odd") :][:1500]
        assert ">42</td>" in odd_row  # health 0-100, whole numbers

    def test_viewers_get_no_action_buttons_operators_do(
        self, page_as: Any, viewer: Any, operator: Any, device: Device
    ) -> None:
        assert b'data-action="restart"' not in page_as(viewer).get("/devices/").content
        assert b'data-action="restart"' in page_as(operator).get("/devices/").content

    def test_query_count_does_not_grow_with_devices(
        self, page_as: Any, viewer: Any, tenant: Tenant
    ) -> None:
        client = page_as(viewer)
        factories.make_device(tenant)
        with CaptureQueriesContext(connection) as few:
            client.get("/devices/")
        for _ in range(15):
            factories.make_device(tenant)
        with CaptureQueriesContext(connection) as many:
            client.get("/devices/")
        assert len(many) == len(few)


@pytest.mark.django_db
def test_simulator_and_export_pages(
    page_as: Any, operator: Any, viewer: Any, device: Device, other_device: Device
) -> None:
    page = page_as(operator).get("/simulator/")
    assert page.status_code == 200 and b'data-action="start"' in page.content
    # The fault form offers the tenant's devices only.
    assert f'<option value="{device.pk}">Pump 1' in page.content.decode()
    assert b"Globex Press" not in page.content
    assert b"</strong>." in page.content and b"</strong>;" not in page.content  # no stray ";"
    assert b'data-action="start"' not in page_as(viewer).get("/simulator/").content
    export = page_as(viewer).get("/export/").content.decode()
    assert "P-001" in export and "G-001" not in export


@pytest.mark.django_db
def test_the_simulator_page_lists_the_devices_nearest_to_failing(
    page_as: Any, viewer: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    from devices.models import SimulatedFleet

    row = {"serial": "SIM-0007", "kind": "pump", "mode": "bearing", "wear": 0.834,
           "failed": False, "faults": ["drift (flow)"], "next_anomaly_s": 5400}  # fmt: skip
    SimulatedFleet.objects.create(tenant=tenant, stats={"wearing": [row]})
    SimulatedFleet.objects.create(
        tenant=other_tenant, stats={"wearing": [{**row, "serial": "THEIRS-1"}]}
    )
    html = page_as(viewer).get("/simulator/").content.decode()
    table = html[html.index('id="sim-devices-state"') :][:2000]
    assert "SIM-0007" in table and "THEIRS-1" not in html
    assert "<td>bearing</td><td>83 %</td><td>drift (flow)</td><td>5400 s</td>" in table
