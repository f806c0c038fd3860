"""Report schedules: what each frequency and scope needs (a 400 naming the field), recipients
who are members or valid addresses, admins write and others read, another tenant's schedules,
devices and people out of reach; the period a run covers, in the tenant's days across a
daylight-saving change."""

from datetime import UTC, datetime, time
from typing import Any

import pytest

from alerts.models import ReportSchedule
from alerts.reports import period_for
from devices.models import Device
from iotplatform.tenancy.models import Tenant

pytestmark = pytest.mark.django_db
URL = "/api/v1/reports/schedules"


def _body(**fields: Any) -> dict[str, Any]:
    return {"name": "Daily summary", "at": "07:00", "emails": ["plant@acme.example"], **fields}


def test_an_admin_adds_a_weekly_report_on_listed_devices_that_others_read(
    tenant: Tenant, device: Device, admin: Any, viewer: Any, api_as: Any
) -> None:
    created = api_as(admin).post(
        URL,
        _body(
            frequency="weekly",
            weekday=0,
            scope="list",
            devices=[device.pk],
            people=[viewer.pk],
            metrics=["temperature"],
            sections=["summary", "alarms"],
        ),
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["frequency"], body["weekday"], body["at"]) == ("weekly", 0, "07:00:00")
    assert body["devices"] == [device.pk] and body["people"][0]["id"] == viewer.pk
    listed = api_as(viewer).get(URL).json()["results"]
    assert [s["name"] for s in listed] == ["Daily summary"]
    assert api_as(viewer).post(URL, _body(name="mine"), format="json").status_code == 403
    detail = f"{URL}/{body['id']}"
    changed = api_as(admin).patch(detail, {"scope": "all", "enabled": False}, format="json")
    assert changed.status_code == 200 and changed.json()["devices"] == []
    assert api_as(admin).delete(detail).status_code == 204
    assert not ReportSchedule.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"frequency": "weekly"}, "weekday", "needs its weekday"),
        ({"weekday": 2}, "weekday", "Only a weekly report"),
        ({"frequency": "monthly", "day_of_month": 31}, "day_of_month", "less than or equal to 28"),
        ({"frequency": "monthly"}, "day_of_month", "needs its day"),
        ({"scope": "type"}, "device_type", "names the type"),
        ({"scope": "type", "device_type": "kettle"}, "device_type", "Unknown device type"),
        ({"scope": "tag"}, "tag", "names the tag"),
        ({"scope": "list"}, "devices", "at least one"),
        ({"scope": "list", "devices": [999999]}, "devices", "Unknown devices: [999999]"),
        ({"emails": ["not-an-address", "ok@acme.example"]}, "emails", "'not-an-address'"),
        ({"emails": []}, "people", "at least one person or address"),
        ({"sections": ["readings"]}, "bucket", "needs its bucket"),
        ({"sections": ["readings"], "bucket": "5m"}, "bucket", "not a valid choice"),
        ({"sections": ["gossip"]}, "sections", "not a valid choice"),
        ({"at": "25:00"}, "at", "Time has wrong format"),
    ],
)
def test_a_schedule_missing_what_it_needs_is_a_400_naming_it(
    tenant: Tenant, admin: Any, api_as: Any, fields: dict[str, Any], field: str, says: str
) -> None:
    refused = api_as(admin).post(URL, _body(**fields), format="json")
    assert refused.status_code == 400, refused.json()
    assert says in str(refused.json()[field]), refused.json()
    assert not ReportSchedule.objects.exists()


def test_another_tenants_schedules_devices_and_people_are_out_of_reach(
    tenant: Tenant,
    other_tenant: Tenant,
    admin: Any,
    other_admin: Any,
    other_device: Device,
    api_as: Any,
) -> None:
    theirs = api_as(other_admin).post(URL, _body(name="Globex weekly"), format="json").json()
    assert api_as(admin).get(f"{URL}/{theirs['id']}").status_code == 404
    assert api_as(admin).patch(f"{URL}/{theirs['id']}", {"enabled": False}).status_code == 404
    assert api_as(admin).get(URL).json()["results"] == []
    sneaky = api_as(admin).post(URL, _body(scope="list", devices=[other_device.pk]), format="json")
    assert sneaky.status_code == 400 and str(other_device.pk) in sneaky.json()["devices"][0]
    stranger = api_as(admin).post(URL, _body(people=[other_admin.pk]), format="json")
    assert stranger.status_code == 400 and "Not members" in stranger.json()["people"][0]


def test_the_admin_scopes_and_checks_schedules(
    tenant: Tenant, other_tenant: Tenant, admin: Any, page_as: Any
) -> None:
    admin.is_staff = True
    admin.save()
    theirs = ReportSchedule.objects.create(tenant=other_tenant, name="Globex", at=time(7))
    client = page_as(admin)
    assert client.get(f"/admin/alerts/reportschedule/{theirs.pk}/change/").status_code == 404
    refused = client.post(
        "/admin/alerts/reportschedule/add/",
        {
            "tenant": tenant.pk,
            "name": "Weekly",
            "frequency": "weekly",
            "at": "07:00",
            "scope": "all",
            "metrics": "[]",
            "sections": '["summary"]',
            "emails": "[]",
            "enabled": "on",
        },
    )
    assert refused.status_code == 200 and b"needs its weekday" in refused.content


@pytest.mark.parametrize(
    ("frequency", "at", "start", "end"),
    [
        # Berlin moves to summer time on 29 March 2026: that day has 23 hours.
        (
            "daily",
            datetime(2026, 3, 30, 5, 0, tzinfo=UTC),
            datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 22, 0, tzinfo=UTC),
        ),
        # … and back on 25 October: 25 hours.
        (
            "daily",
            datetime(2026, 10, 26, 6, 0, tzinfo=UTC),
            datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
            datetime(2026, 10, 25, 23, 0, tzinfo=UTC),
        ),
        (
            "weekly",
            datetime(2026, 4, 6, 5, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 22, 0, tzinfo=UTC),
            datetime(2026, 4, 5, 22, 0, tzinfo=UTC),
        ),
        (
            "monthly",
            datetime(2026, 4, 1, 5, 0, tzinfo=UTC),
            datetime(2026, 2, 28, 23, 0, tzinfo=UTC),
            datetime(2026, 3, 31, 22, 0, tzinfo=UTC),
        ),
    ],
)
def test_a_period_runs_from_local_midnight_to_local_midnight(
    frequency: str, at: datetime, start: datetime, end: datetime
) -> None:
    schedule = ReportSchedule(frequency=frequency, at=time(7))
    assert period_for(schedule, at=at, tz="Europe/Berlin") == (start, end)
