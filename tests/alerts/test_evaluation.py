"""Rules evaluated on readings as they arrive, on the real services: the ingest pipeline hands
the watched readings to the Redis stream, the evaluator reads them with its consumer group and
opens, updates and clears alarms — one tenant's readings never judged by another's rules, a
retried upload and a re-read entry changing nothing, an entry a dead evaluator left claimed and
evaluated by the next."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.conf import settings

from alerts import evaluator, rules
from alerts.evaluator import GROUP, Evaluator
from alerts.ingest import entry, rows_of
from alerts.models import Alarm, AlarmActivity, AlertRule
from devices.models import Device, DeviceType
from devices.services import device_create, device_types_install_catalog
from iotplatform.tenancy.models import Tenant
from telemetry.ingest.pipeline import IngestPipeline

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


@pytest.fixture
def client() -> Iterator[Any]:
    connection = redis.Redis.from_url(settings.REDIS_URL)
    keys = [settings.ALERTS_STREAM_KEY, *connection.keys(f"{settings.ALERTS_STATE_PREFIX}:*")]
    connection.delete(*keys)
    yield connection
    connection.delete(settings.ALERTS_STREAM_KEY)


def _pump(tenant: Tenant, serial: str) -> tuple[Device, str, DeviceType]:
    types = {t.name: t for t in device_types_install_catalog(tenant=tenant)}
    device, token = device_create(
        tenant=tenant, device_type=types["pump"], name=serial, serial=serial
    )
    return device, token, types["pump"]


def _temperature_rule(tenant: Tenant, name: str, threshold: float, **on: Any) -> AlertRule:
    return rules.rule_create(
        tenant=tenant, name=name, kind="threshold", metric="temperature", threshold=threshold, **on
    )


def _ingest(*batches: tuple[str, list[dict[str, Any]]]) -> None:
    """Each (token, payload) through the real pipeline and its after-commit consumers."""

    async def main() -> None:
        pipeline = IngestPipeline()
        try:
            for token, payload in batches:
                identity = await pipeline.authenticate_device(token)
                assert identity is not None
                result = await pipeline.ingest(identity, payload)
                assert result.status == 200, result.answer()
        finally:
            await pipeline.stop()

    asyncio.run(main())


def _temperatures(start_s: int, values: list[float], step_s: int = 10) -> list[dict[str, Any]]:
    return [
        {"ts": T0_MS + (start_s + i * step_s) * 1000, "values": {"temperature": v}}
        for i, v in enumerate(values)
    ]


def test_readings_open_update_and_clear_alarms_of_their_own_tenant_only(
    client: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    ours, token, pump = _pump(tenant, "P-1")
    theirs, their_token, _ = _pump(other_tenant, "G-1")
    hot = rules.rule_create(
        tenant=tenant,
        name="pump hot",
        device_type=pump,
        kind="threshold",
        metric="temperature",
        threshold=85.0,
        clear_threshold=80.0,
        duration_seconds=20,
        severity="critical",
    )
    # 86, 87 (held 10 s), 84 (in the band: the wait starts again), 88 at 30 s, 90 at 40 s,
    # 91 at 50 s: held 20 s since 30 s, the alarm opens at 50 s; 92 at 60 s updates it
    _ingest(
        (token, _temperatures(0, [86, 87, 84, 88, 90, 91, 92])),
        (their_token, _temperatures(0, [200.0] * 7)),  # no rule of theirs watches temperature
    )
    streamed = [
        row for _, fields in client.xrange(settings.ALERTS_STREAM_KEY) for row in rows_of(fields)
    ]
    assert {(tenant_id, device_id) for _, tenant_id, device_id, _, _ in streamed} == {
        (tenant.id, ours.id)
    }
    # 90 at 40 s says nothing 91 at 50 s (the 20 s hold reached) does not: not handed on
    assert [v for *_, v in streamed] == [86, 87, 84, 88, 91, 92]

    worker = Evaluator(client, "test")
    assert worker.drain() == 6
    alarm = Alarm.objects.get()
    assert (alarm.device_id, alarm.rule_id, alarm.status) == (ours.id, hot.id, "open")
    assert alarm.opened_at == T0 + timedelta(seconds=50)
    assert (alarm.first_value, alarm.last_value, alarm.occurrences) == (91.0, 92.0, 1)
    assert alarm.last_seen_at == T0 + timedelta(seconds=60)
    assert alarm.message == "temperature 91, above 85"
    assert not Alarm.objects.filter(device=theirs).exists()

    # the same upload again (a device retrying): the pipeline stores nothing twice, hands
    # nothing on, nothing changes; then 79 at 90 s clears it
    _ingest((token, _temperatures(0, [86, 87, 84, 88, 90, 91, 92])))
    _ingest((token, _temperatures(70, [83, 79])))
    assert worker.drain() == 2
    alarm.refresh_from_db()
    assert (alarm.status, alarm.cleared_at, alarm.last_value) == (
        "cleared",
        T0 + timedelta(seconds=80),
        79.0,
    )
    actions = list(AlarmActivity.objects.filter(alarm=alarm).values_list("action", flat=True))
    assert actions == ["opened", "cleared"]
    # everything read is acknowledged and deleted: the stream stays short
    assert client.xpending(settings.ALERTS_STREAM_KEY, GROUP)["pending"] == 0
    assert client.xlen(settings.ALERTS_STREAM_KEY) == 0


def test_an_entry_a_dead_evaluator_left_is_claimed_and_evaluated_once(
    client: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    device, token, pump = _pump(tenant, "P-2")
    _temperature_rule(tenant, "pump hot", 85.0, device_type=pump)
    _ingest((token, _temperatures(0, [90.0, 91.0])))
    Evaluator(client, "dead")
    taken = client.xreadgroup(GROUP, "dead", {settings.ALERTS_STREAM_KEY: ">"}, count=10)
    assert len(taken[0][1]) == 1  # read, never evaluated nor acknowledged: it died
    monkeypatch.setattr(evaluator, "CLAIM_IDLE_MS", 0)
    alive = Evaluator(client, "alive")
    assert alive.drain() == 2
    alarm = Alarm.objects.get()
    assert (alarm.opened_at, alarm.occurrences) == (T0, 1)
    # the same entry evaluated again (say the claim raced): its readings are seen, nothing twice
    again = evaluator.rows_evaluate(
        [(T0_MS, tenant.id, device.id, "temperature", 90.0)], client=client, index=alive.index
    )
    assert again == 0 and Alarm.objects.get().occurrences == 1


class _Restarting:
    """The Redis client, gone (a restart) when the states are to be stored, once."""

    def __init__(self, client: Any) -> None:
        self.client, self.gone = client, True

    def mget(self, keys: list[str]) -> Any:
        return self.client.mget(keys)

    def mset(self, values: dict[str, str]) -> Any:
        if self.gone:
            self.gone = False
            raise redis.ConnectionError("Connection closed by server.")
        return self.client.mset(values)


def test_readings_evaluated_again_after_redis_lost_their_state_open_no_second_alarm(
    client: Any, tenant: Tenant
) -> None:
    device, _, pump = _pump(tenant, "P-3")
    _temperature_rule(tenant, "pump hot", 85.0, device_type=pump)
    index = evaluator.RuleIndex.load()
    # hot, normal, hot: the alarm opened, cleared and reopened (within the rule's cooldown);
    # Redis goes away after that, before the state saying so is stored, so the evaluator (its
    # entry unacknowledged) reads the same readings again from the old state
    rows = [
        (T0_MS + i * 10_000, tenant.id, device.id, "temperature", v)
        for i, v in enumerate([90.0, 70.0, 92.0])
    ]
    flaky = _Restarting(client)
    with pytest.raises(redis.ConnectionError):
        evaluator.rows_evaluate(rows, client=flaky, index=index)
    evaluator.rows_evaluate(rows, client=flaky, index=index)
    alarm = Alarm.objects.get()
    assert (alarm.status, alarm.occurrences) == ("open", 2)
    steps = alarm.activity.order_by("at", "pk").values_list("action", "at")
    assert list(steps) == [
        ("opened", T0),
        ("cleared", T0 + timedelta(seconds=10)),
        ("reopened", T0 + timedelta(seconds=20)),
    ]


def test_a_device_s_own_rule_and_a_disabled_rule(client: Any, tenant: Tenant) -> None:
    device, token, pump = _pump(tenant, "P-3")
    other, _, _ = _pump(tenant, "P-4")
    _temperature_rule(tenant, "P-3 warm", 60.0, device=device)
    _temperature_rule(tenant, "off", 10.0, device_type=pump, enabled=False)
    _ingest((token, _temperatures(0, [65.0])))
    assert Evaluator(client, "test").drain() == 1
    assert list(Alarm.objects.values_list("device_id", "rule__name")) == [(device.id, "P-3 warm")]
    assert not AlertRule.objects.get(name="off").alarms.exists()
    assert not Alarm.objects.filter(device=other).exists()


def test_a_zscore_rule_gets_every_reading_and_flags_a_spike(client: Any, tenant: Tenant) -> None:
    device, token, pump = _pump(tenant, "P-Z")
    pump.zscore_window = 5
    pump.save(update_fields=["zscore_window"])
    rule = rules.rule_create(
        tenant=tenant,
        name="pump spike",
        device_type=pump,
        kind="zscore",
        metric="temperature",
        threshold=3.0,
        clear_threshold=1.0,
        severity="minor",
    )
    # the same side of every level throughout, yet each reading counts for a z-score
    _ingest((token, _temperatures(0, [60, 61, 60, 61, 60, 70, 61, 60])))
    streamed = [
        row for _, fields in client.xrange(settings.ALERTS_STREAM_KEY) for row in rows_of(fields)
    ]
    assert len(streamed) == 8
    Evaluator(client, "test").drain()
    alarm = Alarm.objects.get(rule=rule)
    assert alarm.device == device
    # 60, 61, 60, 61, 60: mean 60.4, deviation 0.548; 70 is +17.5 deviations
    assert (alarm.opened_at, alarm.message) == (
        T0 + timedelta(seconds=50),
        "temperature z-score +17.5 (beyond 3)",
    )
    # then 61 against 61, 60, 61, 60, 70 (mean 62.4, deviation 4.16): -0.34, within 1: cleared
    assert (alarm.status, alarm.cleared_at) == ("cleared", T0 + timedelta(seconds=60))


def test_two_evaluators_at_once_never_open_two_alarms_for_one_device_and_rule(
    client: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from django.db import connection

    device, _token, pump = _pump(tenant, "P-C")
    rule = _temperature_rule(tenant, "pump hot", 85.0, device_type=pump)
    # Forty stream entries past the level, as forty ingest flushes would add them: the two
    # consumers of the group share them and raise the same (device, rule) at the same time.
    for i in range(40):
        row = [T0_MS + i * 10_000, tenant.id, device.id, "temperature", 90.0 + i]
        client.xadd(settings.ALERTS_STREAM_KEY, entry([row]))

    monkeypatch.setattr(evaluator, "BATCH_ENTRIES", 1)  # one entry a step: they interleave
    seen: dict[str, int] = {}

    def drain(name: str) -> None:
        seen[name] = Evaluator(redis.Redis.from_url(settings.REDIS_URL), name).drain()
        connection.close()

    threads = [threading.Thread(target=drain, args=(f"evaluator-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(seen.values()) == 40 and all(seen.values()), seen  # both took their share
    assert Alarm.objects.filter(rule=rule, device=device).count() == 1
    assert Alarm.objects.get(rule=rule).status == "open"
