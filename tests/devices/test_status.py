"""The one device-status writer: transitions, history rows, live events, per-device intervals,
and the Django admin going through it."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from devices import status
from devices.commands import command_answer, command_fetch, command_issue
from devices.models import Command, Device, DeviceStatus, DeviceStatusChange, DeviceType
from devices.services import device_offline_sweep, device_types_install_catalog
from iotplatform import live
from iotplatform.tenancy.models import Tenant

from .. import factories

S = DeviceStatus


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every live event sent, as the channel layer would get it."""
    sent: list[dict[str, Any]] = []

    def record(*, tenant_id: int, event: live.Event, data: Any, group: str | None = None) -> None:
        sent.append({"tenant": tenant_id, "event": event, "data": data})

    monkeypatch.setattr(live, "publish", record)
    return sent


@pytest.fixture
def pump_type(tenant: Tenant) -> DeviceType:
    return {t.name: t for t in device_types_install_catalog(tenant=tenant)}["pump"]


TRANSITIONS = {
    "data received": status.DATA_RECEIVED,
    "silent": status.SILENT,
    "maintenance on": status.MAINTENANCE_ON,
    "maintenance off": status.MAINTENANCE_OFF,
    "anomaly flagged": status.ANOMALY_FLAGGED,
    "anomaly cleared": status.ANOMALY_CLEARED,
}
# (transition, from) → to; a pair not listed leaves the status as it is.
EXPECTED: dict[tuple[str, str], str] = {
    ("data received", S.OFFLINE): S.HEALTHY,
    ("silent", S.HEALTHY): S.OFFLINE,
    ("silent", S.ANOMALY): S.OFFLINE,
    ("maintenance on", S.HEALTHY): S.MAINTENANCE,
    ("maintenance on", S.ANOMALY): S.MAINTENANCE,
    ("maintenance on", S.OFFLINE): S.MAINTENANCE,
    ("maintenance off", S.MAINTENANCE): S.OFFLINE,
    ("anomaly flagged", S.HEALTHY): S.ANOMALY,
    ("anomaly cleared", S.ANOMALY): S.HEALTHY,
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(TRANSITIONS))
def test_each_transition_moves_only_from_its_sources_and_records_why(
    tenant: Tenant, name: str
) -> None:
    devices = {s: factories.make_device(tenant, status=s, name=f"d-{s}") for s in S.values}
    at = timezone.now()
    changes = status.devices_transition(
        device_ids=[d.id for d in devices.values()], transition=TRANSITIONS[name], at=at
    )
    now = dict(Device.objects.values_list("name", "status"))
    for start, device in devices.items():
        assert now[device.name] == EXPECTED.get((name, start), start), (name, start)
    moved = {(start, to) for (n, start), to in EXPECTED.items() if n == name}
    assert {(c.previous, c.status) for c in changes} == moved
    history = DeviceStatusChange.objects.all()
    assert {(h.from_status, h.to_status) for h in history} == moved
    assert {(h.reason, h.at, h.tenant_id) for h in history} <= {
        (TRANSITIONS[name].reason, at, tenant.id)
    }


@pytest.mark.django_db
def test_changes_are_published_only_after_commit(
    tenant: Tenant, published: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    device = factories.make_device(tenant, status=S.HEALTHY, name="Press")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        status.device_status_set(device=device, transition=status.ANOMALY_FLAGGED)
        assert published == []  # not before the commit
    assert len(callbacks) == 1
    assert device.status == S.ANOMALY
    [sent] = published
    assert sent["tenant"] == tenant.id and sent["event"] == live.Event.DEVICE_STATUS
    assert sent["data"] == {
        "device": device.id,
        "name": "Press",
        "from": "healthy",
        "to": "anomaly",
        "at": DeviceStatusChange.objects.get().at.isoformat(),
        "reason": "anomaly detected",
    }


@pytest.mark.django_db
def test_nothing_changes_nothing_is_recorded_or_published(
    tenant: Tenant, published: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    device = factories.make_device(tenant, status=S.MAINTENANCE)
    with django_capture_on_commit_callbacks(execute=True):
        status.device_status_set(device=device, transition=status.DATA_RECEIVED)
    assert device.status == S.MAINTENANCE
    assert not DeviceStatusChange.objects.exists() and published == []


@pytest.mark.django_db
def test_offline_detection_uses_the_devices_own_interval(
    tenant: Tenant, pump_type: DeviceType
) -> None:
    """A pump's type reports every 5 s (offline after 15 s); one told to report every 60 s is
    offline only after 180 s, also while its acknowledgement is still on the way."""
    now = timezone.now()
    quiet = timedelta(seconds=100)
    factories.make_device(pump_type.tenant, pump_type, name="usual", status=S.HEALTHY)
    slowed = factories.make_device(pump_type.tenant, pump_type, name="slowed", status=S.HEALTHY)
    acked = factories.make_device(pump_type.tenant, pump_type, name="acked", status=S.HEALTHY)
    sped_up = factories.make_device(pump_type.tenant, pump_type, name="sped", status=S.HEALTHY)
    for device in (slowed, acked):
        command_issue(device=device, kind="set_config", payload={"interval_seconds": 60})
    command = command_fetch(device_id=acked.id)
    assert command is not None
    command_answer(device_id=acked.id, command_id=command.id, response={"ok": True})
    # Told to report faster: until it acknowledges, its old (slower) interval still counts.
    Device.objects.filter(pk=sped_up.pk).update(reported_config={"interval_seconds": 60})
    command_issue(device=sped_up, kind="set_config", payload={"interval_seconds": 2})
    Device.objects.update(last_seen=now - quiet)

    assert device_offline_sweep(now=now) == 1
    assert dict(Device.objects.values_list("name", "status")) == {
        "usual": "offline",
        "slowed": "healthy",
        "acked": "healthy",
        "sped": "healthy",
    }
    assert device_offline_sweep(now=now + timedelta(seconds=81)) == 3  # 181 s of silence


@pytest.mark.django_db
def test_a_devices_nonsense_reported_interval_does_not_break_the_sweep(
    tenant: Tenant, pump_type: DeviceType
) -> None:
    now = timezone.now()
    for i, reported in enumerate([{"interval_seconds": "soon"}, {"interval_seconds": None}, []]):
        factories.make_device(
            tenant,
            pump_type,
            status=S.HEALTHY,
            reported_config=reported,
            last_seen=now - timedelta(seconds=16 + i),
        )
    assert device_offline_sweep(now=now) == 3  # the type's 5 s counts for all of them


@pytest.mark.django_db
class TestAdmin:
    def _post(self, client: Any, device: Device, **changes: Any) -> Any:
        form = {
            "tenant": device.tenant_id,
            "type": device.type_id,
            "name": device.name,
            "serial": device.serial,
            "location": device.location,
            "status": device.status,
            "tags": "[]",
            "desired_config": "{}",
            "reported_config": "{}",
            "credentials-TOTAL_FORMS": "0",
            "credentials-INITIAL_FORMS": "0",
            **changes,
        }
        return client.post(f"/admin/devices/device/{device.pk}/change/", form, follow=True)

    def test_a_status_set_in_the_admin_is_recorded_and_published(
        self,
        page_as: Any,
        admin: Any,
        device: Device,
        published: list[dict[str, Any]],
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            response = self._post(page_as(admin), device, status="maintenance")
        assert response.status_code == 200
        device.refresh_from_db()
        assert device.status == S.MAINTENANCE
        change = DeviceStatusChange.objects.get(device=device)
        assert (change.from_status, change.to_status) == ("offline", "maintenance")
        assert change.reason == f"set in the admin by {admin.username}"
        assert [p["data"]["to"] for p in published] == ["maintenance"]

    def test_a_desired_configuration_edited_in_the_admin_is_sent_to_the_device(
        self, page_as: Any, admin: Any, device: Device
    ) -> None:
        response = self._post(page_as(admin), device, desired_config='{"interval_seconds": 30}')
        assert response.status_code == 200
        command = Command.objects.get(device=device)
        assert (command.kind, command.payload, command.status) == (
            "set_config",
            {"interval_seconds": 30},
            "pending",
        )
        assert command.created_by == admin
        device.refresh_from_db()
        assert device.desired_config == {"interval_seconds": 30}
        assert any("Configuration sent" in str(m) for m in response.context["messages"])

    @pytest.mark.parametrize(
        ("config", "message"),
        [
            ('{"interval_seconds": 0}', "interval_seconds: a whole number from 1 to 86400."),
            ('{"colour": "red"}', "Unknown setting &#x27;colour&#x27;"),
            ('{"thresholds": {"temperature": {"warn_high": "hot"}}}', "a number"),
        ],
    )
    def test_a_bad_desired_configuration_is_refused_with_nothing_written(
        self, page_as: Any, admin: Any, device: Device, config: str, message: str
    ) -> None:
        response = self._post(page_as(admin), device, desired_config=config, name="Renamed")
        assert response.status_code == 200
        assert message in response.content.decode()
        device.refresh_from_db()
        assert device.name == "Pump 1" and device.desired_config == {}
        assert not Command.objects.exists()
