"""Rules on a device's state, evaluated by beat's pass on the real database and Redis: offline
and anomaly from the device's status, health and RUL below a level with hysteresis, each held
for its duration before an alarm opens and cleared when the condition is over; one tenant's
rules never touch another's devices; a disabled rule does nothing."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.conf import settings

from alerts import rules
from alerts.models import Alarm, AlertRule
from alerts.states import states_evaluate
from devices.models import Device
from iotplatform.tenancy.models import Tenant

from .. import factories

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(settings.REDIS_URL)
    keys = connection.keys(f"{settings.ALERTS_STATE_PREFIX}:hold:*")
    if keys:
        connection.delete(*keys)
    yield connection
    keys = connection.keys(f"{settings.ALERTS_STATE_PREFIX}:hold:*")
    if keys:
        connection.delete(*keys)


def _set(device: Device, **fields: Any) -> None:
    Device.objects.filter(pk=device.pk).update(last_seen=T0 - timedelta(minutes=5), **fields)


def _pass(client: redis.Redis, at: datetime) -> dict[str, int]:
    return states_evaluate(client=client, now=at)


def _alarms(rule: AlertRule) -> list[tuple[int, str]]:
    return list(Alarm.objects.filter(rule=rule).values_list("device_id", "status"))


def test_an_offline_device_opens_one_alarm_after_the_duration_and_clears_when_back(
    tenant: Tenant, device: Device, client: redis.Redis
) -> None:
    quiet = factories.make_device(tenant, device.type, name="Pump 2")  # offline, never reported
    rule = rules.rule_create(
        tenant=tenant,
        name="offline",
        device_type=device.type,
        kind="offline",
        severity="major",
        duration_seconds=60,
    )
    _set(device, status="offline")
    assert _pass(client, T0)["opened"] == 0  # not yet held for a minute
    assert _pass(client, T0 + timedelta(seconds=30))["opened"] == 0
    assert _pass(client, T0 + timedelta(seconds=61))["opened"] == 1
    assert _pass(client, T0 + timedelta(seconds=71))["opened"] == 0  # one alarm, not two
    assert _alarms(rule) == [(device.pk, "open")]
    alarm = Alarm.objects.get(rule=rule)
    assert alarm.message == "Pump 1 stopped reporting" and alarm.severity == "major"
    _set(device, status="healthy")
    assert _pass(client, T0 + timedelta(seconds=81)) == {"opened": 0, "cleared": 1}
    assert _alarms(rule) == [(device.pk, "cleared")]
    assert quiet.pk not in dict(_alarms(rule))
    # Offline again: the duration starts over.
    _set(device, status="offline")
    assert _pass(client, T0 + timedelta(seconds=91))["opened"] == 0


def test_health_below_a_level_clears_only_past_its_clear_level(
    tenant: Tenant, device: Device, client: redis.Redis
) -> None:
    rule = rules.rule_create(
        tenant=tenant,
        name="unhealthy",
        device=device,
        kind="health_below",
        direction="below",
        threshold=40.0,
        clear_threshold=50.0,
        severity="minor",
    )
    _set(device, health=None)
    assert _pass(client, T0) == {"opened": 0, "cleared": 0}  # no score yet
    _set(device, health=35.0)
    assert _pass(client, T0)["opened"] == 1
    alarm = Alarm.objects.get(rule=rule)
    assert (alarm.last_value, alarm.message) == (35.0, "health 35 below 40")
    _set(device, health=45.0)  # between the levels: the alarm stays
    assert _pass(client, T0 + timedelta(seconds=10)) == {"opened": 0, "cleared": 0}
    _set(device, health=52.0)
    assert _pass(client, T0 + timedelta(seconds=20))["cleared"] == 1
    assert _alarms(rule) == [(device.pk, "cleared")]


def test_rul_and_anomaly_rules_follow_the_analytics_scores_and_status(
    tenant: Tenant, device: Device, client: redis.Redis
) -> None:
    rul = rules.rule_create(
        tenant=tenant,
        name="wearing out",
        device=device,
        kind="rul_below",
        direction="below",
        threshold=48.0,
        severity="major",
    )
    odd = rules.rule_create(tenant=tenant, name="odd", device=device, kind="anomaly")
    _set(device, rul_hours=30.0, status="anomaly", health=61.0)
    assert _pass(client, T0)["opened"] == 2
    assert Alarm.objects.get(rule=rul).message == "remaining useful life (h) 30 below 48"
    assert Alarm.objects.get(rule=odd).last_value == 61.0
    _set(device, status="healthy")
    assert _pass(client, T0 + timedelta(seconds=10))["cleared"] == 1
    assert _alarms(odd) == [(device.pk, "cleared")] and _alarms(rul) == [(device.pk, "open")]


def test_rules_touch_only_their_own_tenants_devices_and_only_when_enabled(
    tenant: Tenant, device: Device, other_device: Device, client: redis.Redis
) -> None:
    theirs = rules.rule_create(
        tenant=other_device.tenant, name="offline", device=other_device, kind="offline"
    )
    ours = rules.rule_create(tenant=tenant, name="offline", device_type=device.type, kind="offline")
    rules.rule_update(rule=ours, enabled=False)
    _set(device, status="offline")
    _set(other_device, status="healthy")
    assert _pass(client, T0) == {"opened": 0, "cleared": 0}
    assert not Alarm.objects.exists()
    _set(other_device, status="offline")
    assert _pass(client, T0)["opened"] == 1
    assert _alarms(theirs) == [(other_device.pk, "open")]


def test_a_forecast_crossing_within_the_rules_hours_opens_and_a_farther_one_clears(
    tenant: Tenant, device: Device, other_device: Device, client: redis.Redis
) -> None:
    from devices.services import devices_forecast_set

    rule = rules.rule_create(
        tenant=tenant,
        name="foreseen",
        device=device,
        kind="forecast_crossing",
        metric="temperature",
        threshold=3.0,
        clear_threshold=5.0,
        severity="warning",
    )
    soon = {
        "metric": "temperature",
        "limit": 75.0,
        "direction": "above",
        "hours": 2.5,
        "earliest_hours": 1.5,
    }
    _set(device)
    # the analytics engine's write; another tenant's id in the same call is left alone
    assert (
        devices_forecast_set(tenant=tenant, crossings={device.pk: soon, other_device.pk: soon}) == 1
    )
    other_device.refresh_from_db()
    assert other_device.forecast_crossing is None
    assert _pass(client, T0)["opened"] == 1
    alarm = Alarm.objects.get(rule=rule)
    assert alarm.message == "temperature forecast to cross 75 (above) in 2.5 h"
    devices_forecast_set(tenant=tenant, crossings={device.pk: {**soon, "hours": 4.0}})
    assert _pass(client, T0 + timedelta(minutes=10))["cleared"] == 0  # within the clear level
    devices_forecast_set(tenant=tenant, crossings={device.pk: None})  # none foreseen
    assert _pass(client, T0 + timedelta(minutes=20))["cleared"] == 1
    # a crossing of another metric is not this rule's
    devices_forecast_set(tenant=tenant, crossings={device.pk: {**soon, "metric": "pressure"}})
    assert _pass(client, T0 + timedelta(minutes=30))["opened"] == 0
