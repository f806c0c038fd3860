"""The engine on the real database: training from minute rollups into versions, and the apply
cycle scoring a minute — stored once, devices updated, anomaly spells and status through the one
writer, live events after commit, one tenant's models never touching another's devices."""

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics import artefacts, registry, rules, scoring, training, training_data
from analytics.failures import FailureFileError, failures_import
from analytics.models import AnomalyEvent, Failure, ModelState, ModelVersion, ScoringCycle
from devices.models import DeviceStatus, DeviceStatusChange
from iotplatform import live
from telemetry.models import Reading

from . import plant

M = plant.END  # the minute scored


def test_training_stores_an_active_version_that_scores_normal_operation_low(trained) -> None:
    version = ModelVersion.objects.get(state=ModelState.ACTIVE)
    assert version.kind == "anomaly" and version.algorithm in ("pca_t2q", "iforest")
    assert version.signals == sorted(plant.METRICS)
    assert version.devices == 3 and version.rows > 8000
    assert set(version.metrics["backtest"]) == {"pca_t2q", "iforest"}
    assert 0.0 <= version.metrics["f1"] <= 1.0
    model = artefacts.artefact_load(name=version.artefact, checksum=version.checksum)
    rows = plant.normal(trained, start=M, minutes=200, seed=7)
    frame = _wide(rows)
    # A fresh stretch of the same normal operation is mostly within the limit (a 0.99 limit).
    assert np.mean(model.score(frame) > 1.0) < 0.05


def _wide(rows: list[tuple[Any, ...]]) -> Any:
    import pandas as pd

    long = pd.DataFrame(rows, columns=["time", "tenant", "device", "metric", "value"])
    return long.pivot_table(index=["device", "time"], columns="metric", values="value")


def test_a_retrain_that_backtests_worse_stays_candidate(trained, tenant, monkeypatch) -> None:
    active = ModelVersion.objects.get(state=ModelState.ACTIVE)

    def blind(x, **kwargs):
        model_blind = training.anomaly_ml.t2q_fit(x.to_numpy())
        model_blind.signals = list(x.columns)
        model_blind.t2_limit = model_blind.q_limit = float("inf")  # flags nothing
        return model_blind, {
            "chosen": "pca_t2q",
            "backtest": {"pca_t2q": {"f1": 0.0, "far": 0.0, "mar": 1.0}},
        }

    monkeypatch.setattr(training.anomaly_ml, "anomaly_choose", blind)
    outcome = training.anomaly_train(tenant=tenant, device_type=trained[0].type, end=M)
    assert not outcome.activated and outcome.version is not None
    assert outcome.version.state == ModelState.CANDIDATE
    assert ModelVersion.objects.get(state=ModelState.ACTIVE) == active
    kept = outcome.version.changes.get(reason__startswith="kept")
    assert "kept as candidate: backtest f1 0 is worse than active" in kept.reason


def test_a_large_fleet_is_sampled_and_every_device_still_gets_its_cluster(
    db: None, tenant, monkeypatch
) -> None:
    devices = plant.pumps(tenant, 5)
    # Four with two days of history, the newest with its last two hours only.
    plant.store(plant.normal(devices[:4], start=M - timedelta(days=2), minutes=2 * 1440))
    plant.store(plant.normal(devices[4:], start=M - timedelta(hours=2), minutes=120, seed=1))
    # Two devices' week is all a trainer may read: a month is one device's (at least one).
    monkeypatch.setattr(training_data, "MAX_TRAIN_DEVICE_MINUTES", 2 * 7 * 1440)
    frames = training.Frames()
    anomaly = training.anomaly_train(
        tenant=tenant, device_type=devices[0].type, end=M, frames=frames
    )
    assert anomaly.version is not None and anomaly.version.devices == 1
    assert anomaly.version.rows > 2 * 1440 * 0.9  # a device with the whole two days
    clusters = training.cluster_train(
        tenant=tenant, device_type=devices[0].type, end=M, frames=frames
    )
    assert clusters.version is not None
    stored = artefacts.artefact_load(
        name=clusters.version.artefact, checksum=clusters.version.checksum
    )
    windows = stored["index"].get_level_values(0)
    counts = windows.value_counts()
    # Two of the devices with history sampled over the week (96 windows of 30 minutes in two
    # days), the other three by their latest window alone; every one has a cluster.
    assert sorted(counts.to_list()) == [1, 1, 1, 96, 96]
    assert counts[devices[4].id] == 1
    assert clusters.version.devices == 5
    for device in devices:
        device.refresh_from_db()
        assert device.cluster is not None


def test_too_little_data_trains_nothing(db: None, tenant) -> None:
    devices = plant.pumps(tenant, 1)
    plant.store(plant.normal(devices, start=M - timedelta(minutes=50), minutes=50))
    with pytest.raises(training.NotEnoughData, match="50 complete minutes"):
        training.anomaly_train(tenant=tenant, device_type=devices[0].type, end=M)
    with pytest.raises(training.NotEnoughData, match="0 recorded failures"):
        training.rul_train(tenant=tenant, device_type=devices[0].type, end=M)
    assert not ModelVersion.objects.exists()


def _one_hot_minute(trained: Any) -> Any:
    """The minute scored: the first device overheating and shaking, the others normal."""
    hot, calm, third = trained
    plant.store(
        plant.reading(hot, M, temperature=90.0, vibration=6.0)
        + plant.reading(calm, M)
        + plant.reading(third, M)
    )
    plant.seen(trained, M + timedelta(seconds=30))
    return trained


def test_a_minute_is_scored_once_and_spells_open_and_end(
    trained, tenant, django_capture_on_commit_callbacks, published
) -> None:
    hot, calm, third = _one_hot_minute(trained)
    with django_capture_on_commit_callbacks(execute=True):
        result = scoring.scores_apply(tenant=tenant, minute=M)
    assert (result.devices, result.flagged, result.opened, result.ended) == (3, 1, 1, 0)

    event = AnomalyEvent.objects.get()
    assert (event.device_id, event.started_at, event.ended_at) == (hot.id, M, None)
    assert event.peak_score > 1.0
    assert {d["metric"] for d in event.drivers[:2]} == {"temperature", "vibration"}
    hot.refresh_from_db()
    calm.refresh_from_db()
    assert hot.status == DeviceStatus.ANOMALY and calm.status == DeviceStatus.HEALTHY
    change = DeviceStatusChange.objects.get(device=hot)
    assert (change.from_status, change.to_status) == ("healthy", "anomaly")
    # Rules: overheating -30, high vibration -20, and the anomaly's penalty on top.
    assert hot.health is not None and hot.health <= 50.0
    assert calm.health is not None and calm.health > 90.0
    stored = dict(
        Reading.objects.filter(device=hot, time=M, metric__startswith="_").values_list(
            "metric", "value"
        )
    )
    assert stored[scoring.HEALTH_KEY] == pytest.approx(hot.health)
    assert stored[scoring.ANOMALY_KEY] == pytest.approx(event.peak_score, rel=1e-3)

    assert {m["tenant"] for m in published} == {tenant.id}
    assert sorted(m["event"] for m in published) == [
        "anomaly.spell",
        "device.scores",
        "device.status",
    ]
    by_event = {m["event"]: m["data"] for m in published}
    scores = by_event[live.Event.DEVICE_SCORES]
    assert scores["minute"] == M.isoformat()
    assert scores["devices"][str(hot.id)]["flagged"] is True
    # The rule detectors beside the model: past the type's warning limits, and far off the
    # previous 20 minutes (the type's z-score window).
    hot_flags = {(f["detector"], f["metric"]) for f in scores["devices"][str(hot.id)]["flags"]}
    assert hot_flags == {
        ("threshold", "temperature"),
        ("threshold", "vibration"),
        ("zscore", "temperature"),
        ("zscore", "vibration"),
    }
    past = {
        f["metric"]: f["score"]
        for f in scores["devices"][str(hot.id)]["flags"]
        if f["detector"] == "threshold"
    }
    assert past == {"temperature": 15.0, "vibration": 2.0}
    assert scores["devices"][str(calm.id)]["flags"] == []
    assert scores["devices"][str(calm.id)]["health"] == calm.health
    assert by_event[live.Event.ANOMALY]["state"] == "opened"
    assert by_event[live.Event.DEVICE_STATUS]["to"] == "anomaly"

    # The same minute again: nothing written twice.
    counts = (
        Reading.objects.count(),
        AnomalyEvent.objects.count(),
        DeviceStatusChange.objects.count(),
    )
    again = scoring.scores_apply(tenant=tenant, minute=M)
    assert again.skipped
    assert counts == (
        Reading.objects.count(),
        AnomalyEvent.objects.count(),
        DeviceStatusChange.objects.count(),
    )
    assert ScoringCycle.objects.get(tenant=tenant, minute=M).flagged == 1

    # Back to normal the next minute: the spell ends, the device is healthy again.
    nxt = M + timedelta(minutes=1)
    plant.store(plant.reading(hot, nxt) + plant.reading(calm, nxt) + plant.reading(third, nxt))
    plant.seen(trained, nxt + timedelta(seconds=30))
    ended = scoring.scores_apply(tenant=tenant, minute=nxt)
    assert (ended.flagged, ended.ended) == (0, 1)
    event.refresh_from_db()
    hot.refresh_from_db()
    assert event.ended_at == nxt and event.minutes == 1
    assert hot.status == DeviceStatus.HEALTHY


def test_the_cycle_updates_the_devices_rows_last_locked_in_id_order(trained, tenant) -> None:
    """Ingestion's last_seen flush waits for the devices' rows the cycle holds: it holds them
    only for its last statements, never while its other writes run."""
    _one_hot_minute(trained)
    with CaptureQueriesContext(connection) as queries:
        result = scoring.scores_apply(tenant=tenant, minute=M)
    assert result.opened == 1
    sql = [q["sql"].lstrip() for q in queries.captured_queries]
    locked = next(i for i, s in enumerate(sql) if "FOR NO KEY UPDATE" in s)
    assert "FROM devices_device" in sql[locked] and "ORDER BY id" in sql[locked]
    writes = ("INSERT", "UPDATE", "DELETE", "WITH")
    before = [s for s in sql[:locked] if s.startswith(writes)]
    after = [s for s in sql[locked:] if s.startswith(writes)]
    assert any('"analytics_anomalyevent"' in s for s in before)  # the spell, written before
    assert not any("devices_device " in s or '"devices_device"' in s for s in before)
    for statement in after:  # the devices' updates and transitions, then the cycle's own row
        assert statement.startswith(("UPDATE devices_device", "WITH prev AS")) or (
            statement.startswith('UPDATE "analytics_scoringcycle"')
        ), statement


def test_a_stuck_sensor_opens_a_spell_unless_normal_operation_sticks_there(trained, tenant) -> None:
    stuck, fine, _ = trained
    rng = np.random.default_rng(5)
    rows = []
    for i, at in enumerate(M - timedelta(minutes=k) for k in (2, 1, 0)):
        noise = {m: spec[0] + spec[1] * rng.normal() for m, spec in plant.METRICS.items()}
        rows += plant.reading(stuck, at, **{**noise, "temperature": 61.234})
        rows += plant.reading(fine, at, **{m: v + 0.01 * i for m, v in noise.items()})
    plant.store(rows)
    plant.seen([stuck, fine], M + timedelta(seconds=30))
    version = ModelVersion.objects.get(tenant=tenant, kind="anomaly", state=ModelState.ACTIVE)
    assert version.params["saturated"] == {m: [] for m in plant.METRICS}  # nothing repeats
    scored = {
        r.device_id: r
        for r in scoring._score_type(
            tenant=tenant, device_type=stuck.type, devices=[stuck, fine], minute=M
        )
    }
    assert scored[stuck.id].detector == "stuck" and scored[stuck.id].flagged
    assert scored[stuck.id].drivers == [{"metric": "temperature", "share": 1.0, "value": 61.234}]
    assert {"detector": "stuck", "metric": "temperature", "value": 61.234, "score": 3.0} in (
        scored[stuck.id].flags
    )
    assert scored[fine.id].detector != "stuck"
    # The device's prediction says the same.
    assert rules.device_flags(device=stuck, minute=M)[0] == {
        "detector": "stuck",
        "metric": "temperature",
        "value": 61.234,
        "score": 3.0,
    }
    # A value normal operation sticks to (learnt at training) is no stuck sensor; nor is the
    # end of the metric's declared range; nor anything, with a model that learnt neither.
    for params, metrics in (
        ({"saturated": {"temperature": [61.234]}}, None),
        ({"saturated": {}}, {"temperature": {"min": 0, "max": 61.234, "warn_high": 75}}),
        ({}, None),
    ):
        version.params = params
        version.save()
        if metrics is not None:
            stuck.type.metrics = {**stuck.type.metrics, **metrics}
        again = scoring._score_type(
            tenant=tenant, device_type=stuck.type, devices=[stuck], minute=M
        )
        assert again[0].detector != "stuck", params


def test_the_zscore_detector_takes_its_types_window_and_threshold(trained, tenant) -> None:
    first = trained[0]
    device_type = first.type
    device_type.zscore_threshold = 20.0
    device_type.save()
    plant.store(plant.reading(first, M, temperature=66.0))  # 6 spreads up, inside 75 °C
    plant.seen([first], M + timedelta(seconds=30))
    scored = {
        r.device_id: r
        for r in scoring._score_type(
            tenant=tenant, device_type=device_type, devices=[first], minute=M
        )
    }

    # The reading may be the residual model's too (how far depends on the fleet it was trained
    # on); the z-score detector's flags are what the type's settings decide.
    def zscores(flags: list[dict[str, object]]) -> list[tuple[object, object]]:
        return [(f["detector"], f["metric"]) for f in flags if f["detector"] == "zscore"]

    assert zscores(scored[first.id].flags) == []  # 20 standard deviations: not flagged
    device_type.zscore_threshold = 2.0
    device_type.zscore_window = 5
    device_type.save()
    scored = {
        r.device_id: r
        for r in scoring._score_type(
            tenant=tenant, device_type=device_type, devices=[first], minute=M
        )
    }
    assert zscores(scored[first.id].flags) == [("zscore", "temperature")]
    assert rules.device_flags(device=first, minute=M) == scored[first.id].flags


def test_devices_due_are_forecast_and_the_soonest_crossing_published(
    db: None, tenant, api_as, viewer, django_capture_on_commit_callbacks, published, monkeypatch
) -> None:
    rising, steady = plant.pumps(tenant, 2)
    rows = []
    for i in range(180):  # the last three hours: 60 → 70 °C on one, steady on the other
        at = M - timedelta(minutes=179 - i)
        rows += plant.reading(rising, at, temperature=60.0 + 10.0 * i / 179)
        rows += plant.reading(steady, at)
    plant.store(rows)
    plant.seen([rising, steady], M + timedelta(seconds=30))
    monkeypatch.setattr(scoring, "FORECAST_EVERY_MINUTES", 1)  # every device forecast now
    with django_capture_on_commit_callbacks(execute=True):
        scoring.scores_apply(tenant=tenant, minute=M)
    (scores,) = [m["data"] for m in published if m["event"] == live.Event.DEVICE_SCORES]
    crossing = scores["devices"][str(rising.id)]["crossing"]
    assert (crossing["metric"], crossing["limit"], crossing["direction"]) == (
        "temperature",
        75.0,
        "above",
    )
    assert 1.0 <= crossing["hours"] <= 3.0
    assert scores["devices"][str(steady.id)]["crossing"] is None  # forecast, nothing crosses
    # The device's prediction says the same.
    body = api_as(viewer).get(f"/api/v1/devices/{rising.id}/prediction").json()
    assert body["crossing"] == crossing
    # A minute the devices are not due: no crossing key (not "none forecast").
    monkeypatch.setattr(scoring, "forecast_due", lambda device_id, minute: False)
    published.clear()
    nxt = M + timedelta(minutes=1)
    plant.store(plant.reading(rising, nxt, temperature=70.0) + plant.reading(steady, nxt))
    plant.seen([rising, steady], nxt + timedelta(seconds=30))
    with django_capture_on_commit_callbacks(execute=True):
        scoring.scores_apply(tenant=tenant, minute=nxt)
    (scores,) = [m["data"] for m in published if m["event"] == live.Event.DEVICE_SCORES]
    assert "crossing" not in scores["devices"][str(rising.id)]


def test_one_tenants_models_never_score_anothers_devices(trained, tenant, other_tenant) -> None:
    theirs = plant.pumps(other_tenant, 2)
    plant.store(plant.reading(theirs[0], M, temperature=90.0) + plant.reading(theirs[1], M))
    plant.seen(theirs, M + timedelta(seconds=30))
    result = scoring.scores_apply(tenant=other_tenant, minute=M)
    assert result.devices == 2 and result.flagged == 0
    # No anomaly model of their own: no anomaly score, but health from the rules.
    metrics = set(
        Reading.objects.filter(tenant=other_tenant, metric__startswith="_").values_list(
            "metric", flat=True
        )
    )
    assert metrics == {scoring.HEALTH_KEY}
    theirs[0].refresh_from_db()
    assert theirs[0].health == 70.0  # overheating only
    assert not AnomalyEvent.objects.filter(tenant=other_tenant).exists()
    # And tenant A's cycle never touched tenant B's devices.
    scoring.scores_apply(tenant=tenant, minute=M)
    assert not Reading.objects.filter(tenant=tenant, device__in=[d.id for d in theirs]).exists()


def test_each_device_is_forecast_once_in_ten_minutes() -> None:
    minutes = [M + timedelta(minutes=i) for i in range(scoring.FORECAST_EVERY_MINUTES)]
    for device_id in range(1, 40):
        assert sum(scoring.forecast_due(device_id, m) for m in minutes) == 1


def test_failures_import_is_idempotent_and_refuses_bad_files(db: None, tenant, tmp_path) -> None:
    device = plant.pumps(tenant, 1)[0]
    path = tmp_path / "failures.csv"
    path.write_text(
        "device,failure_mode,failed_at_ms,repaired_at_ms\n"
        f"{device.serial},bearing,1795400000000,1795428800000\n"
        f"{device.serial},bearing,1796400000000,\n"
        "NOT-OURS,seal,1795400000000,\n"
    )
    first = failures_import(tenant=tenant, path=path)
    assert (first.rows, first.stored, first.skipped) == (3, 2, 1)
    assert first.unknown_devices == {"NOT-OURS"}
    assert failures_import(tenant=tenant, path=path).stored == 0
    assert Failure.objects.count() == 2
    assert Failure.objects.filter(repaired_at__isnull=True).count() == 1

    bad = tmp_path / "bad.csv"
    bad.write_text("device,failed_at_ms\nX,1\n")
    with pytest.raises(FailureFileError, match=r"bad\.csv: missing columns failure_mode"):
        failures_import(tenant=tenant, path=bad)
    bad.write_text(
        "device,failure_mode,failed_at_ms,repaired_at_ms\n"
        f"{device.serial},bearing,1797400000000,\n"
        f"{device.serial},bearing,soon,\n"
    )
    with pytest.raises(FailureFileError, match="line 3: failed_at_ms 'soon' is not a number"):
        failures_import(tenant=tenant, path=bad)
    assert Failure.objects.count() == 2  # nothing half-written


def test_the_type_model_opens_a_spell_only_past_twice_its_limit(trained, tenant) -> None:
    """A minute all of whose metrics move together with the load (a heavy minute, nothing
    wrong with the device) is beyond the type model's limit before it is beyond twice it: the
    score is the model's over MULTIVARIATE_LIMIT, and only past that does a spell open."""
    model = registry.active_model(tenant=tenant, device_type=trained[0].type, kind="anomaly")
    assert model is not None

    def heavy(load: float) -> dict[str, float]:
        return {m: spec[0] + spec[1] * 0.8 * load for m, spec in plant.METRICS.items()}

    loads = np.linspace(0.0, 20.0, 401)
    raw = model.artefact.score(pd.DataFrame([heavy(x) for x in loads])[model.artefact.signals])
    between = float(loads[np.argmax(raw > 1.3)])  # past the limit, not past twice it
    beyond = float(loads[np.argmax(raw > 3.0)])
    assert 1.3 < model.artefact.score(pd.DataFrame([heavy(between)]))[0] < 2.0
    for device, load, flagged in ((trained[0], between, False), (trained[1], beyond, True)):
        plant.store(plant.reading(device, M, **heavy(load)))
        plant.seen([device], M + timedelta(seconds=30))
        (result,) = scoring._score_type(
            tenant=tenant, device_type=device.type, devices=[device], minute=M
        )
        expected = model.artefact.score(pd.DataFrame([heavy(load)]))[0]
        assert result.detector == model.artefact.kind
        assert result.anomaly == pytest.approx(expected / scoring.MULTIVARIATE_LIMIT)
        assert result.flagged is flagged
