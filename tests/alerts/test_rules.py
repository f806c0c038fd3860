"""Alert rules: what each kind needs (a 400 naming the field otherwise), the defaults a new
tenant starts from (the catalogue's levels), who may change what, and one tenant's rules
never another's."""

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from alerts import rules
from alerts.models import AlertRule, ConditionKind, Severity
from devices import catalog
from devices.models import DeviceType
from iotplatform.tenancy.models import Tenant
from iotplatform.tenancy.services import tenant_create

from .. import factories

URL = "/api/v1/alerts/rules"


@pytest.fixture
def pump(tenant: Tenant) -> DeviceType:
    return DeviceType.objects.create(
        tenant=tenant, name="pump", metrics=catalog.DEVICE_TYPES["pump"]["metrics"]
    )


def _rule(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Pump too hot",
        "device_type": "pump",
        "kind": "threshold",
        "metric": "temperature",
        "direction": "above",
        "threshold": 85,
        "clear_threshold": 80,
        "duration_seconds": 30,
        "severity": "critical",
        **fields,
    }


@pytest.mark.django_db
def test_a_new_tenant_starts_with_the_catalogue_s_levels_as_rules() -> None:
    tenant = tenant_create(slug="fresh", name="Fresh Plant")
    by_name = {r.name: r for r in AlertRule.objects.filter(tenant=tenant)}
    hot = by_name["pump: overheating"]
    pump = catalog.DEVICE_TYPES["pump"]["metrics"]["temperature"]
    assert (hot.kind, hot.metric, hot.direction, hot.threshold) == (
        "threshold",
        "temperature",
        "above",
        pump["warn_high"],
    )
    assert hot.severity == Severity.WARNING and hot.duration_seconds == 30
    # hysteresis: 5 % of the metric's range below the level
    assert hot.clear_threshold == pytest.approx(
        pump["warn_high"] - 0.05 * (pump["max"] - pump["min"])
    )
    assert by_name["pump: overheating (alarm level)"].threshold == pump["alarm_high"]
    assert by_name["pump: overheating (alarm level)"].severity == Severity.CRITICAL
    motor = catalog.DEVICE_TYPES["motor"]["metrics"]["vibration"]
    assert by_name["motor: high vibration"].threshold == motor["warn_high"]
    compressor = catalog.DEVICE_TYPES["compressor"]["metrics"]["pressure"]
    assert by_name["compressor: high pressure"].threshold == compressor["warn_high"]
    assert "pump: high pressure" not in by_name  # the pump's pressure has only low levels
    low = by_name["edge gateway: low battery"]
    assert (low.direction, low.threshold, low.clear_threshold) == ("below", 30.0, 35.0)
    drop = by_name["battery sensor: battery drop"]
    assert (drop.kind, drop.threshold, drop.window_seconds) == ("rate", 10.0, 600)
    offline = {n for n, r in by_name.items() if r.kind == ConditionKind.OFFLINE}
    assert offline == {f"{name}: offline" for name in catalog.DEVICE_TYPES}
    assert all(r.device_type and r.device_type.tenant_id == tenant.id for r in by_name.values())
    assert all(r.enabled for r in by_name.values())
    # idempotent: installing again adds nothing
    assert rules.rules_install_defaults(tenant=tenant) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"metric": ""}, "metric", "needs the metric"),
        ({"kind": "zscore", "metric": "", "clear_threshold": None}, "metric", "needs the metric"),
        ({"metric": "colour"}, "metric", "'colour' is not a metric of device type 'pump'"),
        ({"threshold": None}, "threshold", "level the metric must pass"),
        ({"clear_threshold": 90}, "clear_threshold", "at or below 85"),
        ({"direction": "below", "clear_threshold": 80}, "clear_threshold", "at or above 85"),
        ({"kind": "rate", "threshold": 5, "clear_threshold": None}, "window_seconds", "needs"),
        ({"window_seconds": 60}, "window_seconds", "Only a rate rule"),
        ({"kind": "offline", "metric": ""}, "threshold", "takes no threshold"),
        (
            {"kind": "rul_below", "metric": "", "threshold": 24, "clear_threshold": None},
            "direction",
            "fires below",
        ),
        (
            {
                "kind": "health_below",
                "metric": "",
                "direction": "below",
                "threshold": 150,
                "clear_threshold": None,
            },
            "threshold",
            "between 0 and 100",
        ),
        ({"device_type": None}, "device_type", "exactly one"),
        ({"device_type": "kettle"}, "device_type", "Unknown device type 'kettle'"),
        ({"kind": "sunspots"}, "kind", "not a valid choice"),
        ({"severity": "apocalyptic"}, "severity", "not a valid choice"),
    ],
)
def test_a_rule_missing_what_its_kind_needs_is_a_400_naming_it(
    api_as: Any, admin: Any, pump: DeviceType, fields: dict[str, Any], field: str, says: str
) -> None:
    response = api_as(admin).post(URL, _rule(**fields), format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert says in " ".join(body[field]), body
    assert not AlertRule.objects.exists()


@pytest.mark.django_db
def test_admins_write_operators_switch_viewers_read(
    api_as: Any, admin: Any, operator: Any, viewer: Any, pump: DeviceType
) -> None:
    assert api_as(operator).post(URL, _rule(), format="json").status_code == 403
    created = api_as(admin).post(URL, _rule(), format="json")
    assert created.status_code == 201, created.content
    rule = created.json()
    assert (rule["device_type"], rule["threshold"], rule["enabled"]) == ("pump", 85.0, True)
    assert api_as(admin).post(URL, _rule(), format="json").json() == {
        "name": ["A rule named 'Pump too hot' exists already."]
    }
    one = f"{URL}/{rule['id']}"
    # an operator may switch it off and on, nothing else
    assert api_as(operator).patch(one, {"enabled": False}, format="json").json()["enabled"] is False
    refused = api_as(operator).patch(one, {"threshold": 200}, format="json")
    assert refused.status_code == 403 and "only enable or disable" in refused.json()["detail"]
    assert api_as(viewer).patch(one, {"enabled": True}, format="json").status_code == 403
    assert api_as(viewer).get(one).json()["enabled"] is False
    # an admin changes it, validated as a whole
    bad = api_as(admin).patch(one, {"clear_threshold": 99}, format="json")
    assert bad.status_code == 400 and "clear_threshold" in bad.json()
    changed = api_as(admin).patch(one, {"threshold": 90, "severity": "major"}, format="json")
    assert (changed.json()["threshold"], changed.json()["severity"]) == (90.0, "major")
    assert api_as(viewer).get(URL, {"device_type": "pump"}).json()["count"] == 1
    assert api_as(operator).delete(one).status_code == 403
    assert api_as(admin).delete(one).status_code == 204
    assert not AlertRule.objects.exists()


@pytest.mark.django_db
def test_a_rule_on_one_device(api_as: Any, admin: Any, pump: DeviceType, tenant: Tenant) -> None:
    device = factories.make_device(tenant, pump)
    created = api_as(admin).post(
        URL,
        _rule(device_type=None, device=device.id, threshold=60, clear_threshold=55),
        format="json",
    )
    assert created.status_code == 201, created.content
    assert (created.json()["device"], created.json()["device_type"]) == (device.id, None)
    both = api_as(admin).post(URL, _rule(name="both", device=device.id), format="json")
    assert both.status_code == 400 and "exactly one" in both.json()["device_type"][0]


@pytest.mark.django_db
def test_another_tenant_s_rules_are_never_seen_changed_or_used(
    api_as: Any, admin: Any, other_admin: Any, pump: DeviceType, other_tenant: Tenant
) -> None:
    mine = api_as(admin).post(URL, _rule(), format="json").json()
    theirs_type = DeviceType.objects.create(
        tenant=other_tenant, name="pump", metrics=catalog.DEVICE_TYPES["pump"]["metrics"]
    )
    their_device = factories.make_device(other_tenant, theirs_type)
    assert api_as(other_admin).get(URL).json()["count"] == 0
    for method in ("get", "patch", "delete"):
        call = getattr(api_as(other_admin), method)
        response = call(f"{URL}/{mine['id']}", {"enabled": False}, format="json")
        assert response.status_code == 404
    # my rule cannot name their device
    refused = api_as(admin).post(
        URL, _rule(name="theirs", device_type=None, device=their_device.id), format="json"
    )
    assert refused.status_code == 400 and refused.json()["device"] == [
        f"Unknown device {their_device.id}."
    ]
    # nor can a service call put one tenant's rule on another's type
    with pytest.raises(ValidationError, match="Not found"):
        rules.rule_create(tenant=pump.tenant, name="x", device_type=theirs_type, kind="offline")
    assert AlertRule.objects.get(pk=mine["id"]).enabled is True


@pytest.mark.django_db(transaction=True)
def test_tenants_from_before_rules_get_the_defaults_by_migration() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from devices.services import device_types_install_catalog

    old = factories.make_tenant()  # made without the signal, as tenants before rules were
    device_types_install_catalog(tenant=old)
    assert not AlertRule.objects.filter(tenant=old).exists()
    executor = MigrationExecutor(connection)
    executor.migrate([("alerts", "0001_initial")])
    executor.loader.build_graph()
    executor.migrate([("alerts", "0002_default_rules")])
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes("alerts"))
    fresh = tenant_create(slug="fresh", name="Fresh Plant")

    def rules_of(tenant: Tenant) -> set[tuple[Any, ...]]:
        return set(
            AlertRule.objects.filter(tenant=tenant).values_list(
                "name", "kind", "metric", "threshold", "clear_threshold", "severity"
            )
        )

    assert rules_of(old) == rules_of(fresh) and len(rules_of(old)) > 10
