"""The notifications API and admin: each person's own settings (checked, a 400 naming the
field), the tenant's recipients per severity (admins only, members only), the delivery log (the
tenant's for admins, their own for others) — never another tenant's."""

from typing import Any

import pytest

from alerts.models import NotificationDelivery, NotificationProfile, SeverityRecipients
from iotplatform.tenancy.models import Tenant

from .notifying import hot_rule, people, raise_alarm

pytestmark = pytest.mark.django_db
ME = "/api/v1/alerts/notifications/me"


def test_a_person_reads_and_sets_their_own_notification_settings(
    tenant: Tenant, api_as: Any
) -> None:
    viewer = people(tenant)["viewer"]
    api = api_as(viewer)
    first = api.get(ME).json()
    assert first["email"] is True and first["min_severity"] == "warning"
    assert first["quiet_start"] is None and first["webhook_signed"] is False
    changed = api.patch(
        ME,
        {
            "sms": True,
            "phone": "+4915112345678",
            "quiet_start": "22:00",
            "quiet_end": "06:00",
            "webhook_secret": "hush",
            "webhook_url": "https://hooks.example/iot",
        },
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    body = changed.json()
    assert body["sms"] and body["quiet_start"] == "22:00:00" and body["webhook_signed"]
    assert "webhook_secret" not in body  # written, never shown
    profile = NotificationProfile.objects.get(user=viewer)
    assert (profile.tenant, profile.webhook_secret) == (tenant, "hush")


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"sms": True}, "phone", "need a phone number"),
        ({"phone": "0151 123"}, "phone", "international form"),
        ({"quiet_start": "22:00"}, "quiet_end", "both a start and an end"),
        ({"webhook": True}, "webhook_url", "needs its URL"),
        ({"min_severity": "dire"}, "min_severity", "not a valid choice"),
        ({"webhook_url": "ftp://x.example/"}, "webhook_url", "starts with https://"),
    ],
)
def test_bad_settings_are_a_400_naming_the_field_and_change_nothing(
    tenant: Tenant, api_as: Any, change: dict[str, Any], field: str, text: str
) -> None:
    operator = people(tenant)["operator"]
    refused = api_as(operator).patch(ME, change, format="json")
    assert refused.status_code == 400
    assert text in " ".join(refused.json()[field])
    assert not NotificationProfile.objects.exists()


def test_admins_choose_who_hears_of_each_severity_from_their_own_members(
    tenant: Tenant, other_tenant: Tenant, api_as: Any
) -> None:
    who = people(tenant)
    stranger = people(other_tenant)["viewer"]
    url = "/api/v1/alerts/recipients"
    listed = api_as(who["viewer"]).get(url).json()
    assert [r["severity"] for r in listed] == ["critical", "info", "major", "minor", "warning"]
    assert api_as(who["operator"]).patch(f"{url}/info", {"audience": "viewer"}).status_code == 403
    refused = api_as(who["admin"]).patch(f"{url}/info", {"people": [stranger.pk]}, format="json")
    assert refused.status_code == 400 and str(stranger.pk) in refused.json()["people"][0]
    done = api_as(who["admin"]).patch(
        f"{url}/info", {"audience": "listed", "people": [who["viewer"].pk]}, format="json"
    )
    assert done.json() == {
        "severity": "info",
        "audience": "listed",
        "people": [{"id": who["viewer"].pk, "username": who["viewer"].username}],
    }
    assert api_as(who["admin"]).patch(f"{url}/dire", {}).status_code == 404
    theirs = SeverityRecipients.objects.get(tenant=other_tenant, severity="info")
    assert list(theirs.people.all()) == []


def test_the_delivery_log_is_the_tenants_for_admins_and_ones_own_for_others(
    tenant: Tenant, other_tenant: Tenant, device: Any, other_device: Any, api_as: Any
) -> None:
    who = people(tenant)
    people(other_tenant)
    activity = raise_alarm(hot_rule(tenant, device), device)
    raise_alarm(hot_rule(other_tenant, other_device), other_device)
    assert NotificationDelivery.objects.count() == 4
    url = "/api/v1/alerts/deliveries"
    everything = api_as(who["admin"]).get(url).json()["results"]
    assert sorted(d["user"] for d in everything) == [
        who["admin"].username,
        who["operator"].username,
    ]
    assert {d["alarm"] for d in everything} == {activity.alarm_id}
    assert everything[0]["status"] == "pending" and everything[0]["action"] == "opened"
    own = api_as(who["operator"]).get(url).json()["results"]
    assert [d["user"] for d in own] == [who["operator"].username]
    assert api_as(who["viewer"]).get(url).json()["results"] == []
    assert api_as(who["admin"]).get(url, {"status": "nope"}).status_code == 400
    assert api_as(who["admin"]).get(url, {"status": "sent"}).json()["results"] == []


def test_the_admin_scopes_and_checks_notification_settings(
    tenant: Tenant, other_tenant: Tenant, admin: Any, page_as: Any
) -> None:
    who = people(tenant)
    theirs = people(other_tenant)
    admin.is_staff = True
    admin.save()
    client = page_as(admin)
    page = client.get("/admin/alerts/severityrecipients/")
    assert page.status_code == 200
    ours = SeverityRecipients.objects.get(tenant=tenant, severity="critical")
    other = SeverityRecipients.objects.get(tenant=other_tenant, severity="critical")
    assert client.get(f"/admin/alerts/severityrecipients/{other.pk}/change/").status_code == 404
    form = {"tenant": tenant.pk, "severity": "critical", "audience": "admin"}
    refused = client.post(
        f"/admin/alerts/severityrecipients/{ours.pk}/change/",
        {**form, "people": [theirs["viewer"].pk]},
    )
    assert refused.status_code == 200 and b"people" in refused.content
    saved = client.post(
        f"/admin/alerts/severityrecipients/{ours.pk}/change/",
        {**form, "people": [who["viewer"].pk]},
    )
    assert saved.status_code == 302
    assert list(SeverityRecipients.objects.get(pk=ours.pk).people.all()) == [who["viewer"]]
    bad = client.post(
        "/admin/alerts/notificationprofile/add/",
        {
            "tenant": tenant.pk,
            "user": who["viewer"].pk,
            "sms": "on",
            "min_severity": "warning",
            "webhook_format": "json",
            "email": "on",
            "quiet_critical": "on",
        },
    )
    assert bad.status_code == 200 and b"Text messages need a phone number" in bad.content
    assert client.get("/admin/alerts/notificationdelivery/").status_code == 200


def test_tenants_from_before_notifications_get_the_default_recipients_by_migration() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from iotplatform.tenancy.services import tenant_create

    from .. import factories

    old = factories.make_tenant()  # made without the signal, as tenants before notifications
    assert not SeverityRecipients.objects.filter(tenant=old).exists()
    executor = MigrationExecutor(connection)
    executor.migrate([("alerts", "0003_notifications")])
    executor.loader.build_graph()
    executor.migrate([("alerts", "0004_default_recipients")])
    fresh = tenant_create(slug="fresh", name="Fresh Plant")

    def routing(tenant: Tenant) -> dict[str, str]:
        rows = SeverityRecipients.objects.filter(tenant=tenant)
        return dict(rows.values_list("severity", "audience"))

    assert (
        routing(old)
        == routing(fresh)
        == {
            "critical": "operator",
            "major": "operator",
            "minor": "operator",
            "warning": "operator",
            "info": "listed",
        }
    )


def test_one_persons_settings_are_their_own_in_each_tenant(
    tenant: Tenant, other_tenant: Tenant, api_as: Any
) -> None:
    from iotplatform.tenancy.models import Membership

    operator = people(tenant)["operator"]
    Membership.objects.create(user=operator, tenant=other_tenant, role="viewer")
    api = api_as(operator)
    api.patch(ME, {"min_severity": "critical"}, format="json", HTTP_X_TENANT="acme")
    elsewhere = api.get(ME, HTTP_X_TENANT="globex").json()
    assert elsewhere["min_severity"] == "warning"  # the default there: untouched
    api.patch(ME, {"email": False}, format="json", HTTP_X_TENANT="globex")
    assert dict(
        NotificationProfile.objects.filter(user=operator).values_list("tenant__slug", "email")
    ) == {"acme": True, "globex": False}
