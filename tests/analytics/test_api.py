"""The analytics API: scoped to the tenant (another tenant's rows are a 404 or absent), roles
(viewers read, admins retrain), bad input a 400 naming the field."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from analytics import artefacts, registry, scoring, tasks
from analytics.models import AnomalyEvent, ModelKind, TrainingRun
from tests.telemetry.known_readings import write

from . import plant


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Runs handed to the worker (recorded here instead of sent)."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.training_run_execute, "delay", sent.append)
    return sent


def _version(tenant) -> Any:
    now = timezone.now()
    stored = artefacts.artefact_save({"x": 1}, name=f"{tenant.id}/api.joblib")
    version = registry.model_version_create(
        tenant=tenant,
        device_type=plant.pump_type(tenant),
        kind=ModelKind.ANOMALY,
        algorithm="iforest",
        stored=stored,
        window=(now - timedelta(days=30), now),
        rows=5000,
        devices=3,
        signals=["temperature", "vibration"],
        params={"seed": 0},
        metrics={"f1": 0.91},
    )
    registry.model_version_promote(version=version, metric=None)
    return version


def test_model_versions_are_listed_for_the_tenant_only(
    api_as, viewer, other_admin, tenant, other_tenant
) -> None:
    ours = _version(tenant)
    theirs = _version(other_tenant)
    body = api_as(viewer).get("/api/v1/analytics/models").json()
    assert [v["id"] for v in body["results"]] == [ours.id]
    row = body["results"][0]
    assert (row["device_type"], row["kind"], row["state"], row["algorithm"]) == (
        "pump",
        "anomaly",
        "active",
        "iforest",
    )
    assert [c["to_state"] for c in row["changes"]] == ["candidate", "active"]
    assert api_as(viewer).get(f"/api/v1/analytics/models/{ours.id}").status_code == 200
    assert api_as(viewer).get(f"/api/v1/analytics/models/{theirs.id}").status_code == 404
    assert api_as(other_admin).get(f"/api/v1/analytics/models/{ours.id}").status_code == 404
    filtered = api_as(viewer).get("/api/v1/analytics/models?kind=rul").json()
    assert filtered["results"] == []
    bad = api_as(viewer).get("/api/v1/analytics/models?state=asleep")
    assert bad.status_code == 400 and "state" in bad.json()


def test_admins_and_operators_ask_for_a_retrain_once(
    api_as, admin, operator, viewer, tenant, other_tenant, queued
) -> None:
    plant.pump_type(tenant)
    plant.pump_type(other_tenant)
    answer = api_as(admin).post("/api/v1/analytics/training", {"type": "pump"}, format="json")
    assert answer.status_code == 202, answer.content
    run = answer.json()
    assert (run["status"], run["progress"], run["kinds"]) == (
        "queued",
        0.0,
        ["anomaly", "rul", "cluster"],
    )
    assert queued == [run["id"]]
    again = api_as(admin).post(
        "/api/v1/analytics/training", {"type": "pump", "kinds": ["rul"]}, format="json"
    )
    assert again.status_code == 200 and again.json()["id"] == run["id"]
    assert queued == [run["id"]]  # nothing sent twice
    assert api_as(viewer).get(f"/api/v1/analytics/training/{run['id']}").json()["id"] == run["id"]

    refused = api_as(viewer).post("/api/v1/analytics/training", {"type": "pump"}, format="json")
    assert refused.status_code == 403
    # An operator may ask too: the pending run is the answer, nothing queued twice.
    by_operator = api_as(operator).post(
        "/api/v1/analytics/training", {"type": "pump"}, format="json"
    )
    assert by_operator.status_code == 200 and by_operator.json()["id"] == run["id"]
    unknown = api_as(admin).post("/api/v1/analytics/training", {"type": "kettle"}, format="json")
    assert unknown.status_code == 400 and "kettle" in unknown.json()["type"][0]
    bad_kind = api_as(admin).post(
        "/api/v1/analytics/training", {"type": "pump", "kinds": ["tea"]}, format="json"
    )
    assert bad_kind.status_code == 400 and "kinds" in bad_kind.json()
    assert TrainingRun.objects.count() == 1


def test_another_tenants_training_runs_are_not_found(
    api_as, admin, other_admin, tenant, queued
) -> None:
    plant.pump_type(tenant)
    run = api_as(admin).post("/api/v1/analytics/training", {"type": "pump"}, format="json").json()
    assert api_as(other_admin).get(f"/api/v1/analytics/training/{run['id']}").status_code == 404
    assert api_as(other_admin).get("/api/v1/analytics/training").json()["results"] == []
    # Their admin naming our type finds no such type in their tenant.
    answer = api_as(other_admin).post("/api/v1/analytics/training", {"type": "pump"}, format="json")
    assert answer.status_code == 400


def test_prediction_and_anomalies_of_a_device(
    api_as, viewer, other_admin, tenant, other_tenant
) -> None:
    device = plant.pumps(tenant, 1)[0]
    theirs = plant.pumps(other_tenant, 1)[0]
    version = _version(tenant)
    minute = plant.END
    write(
        [
            (minute, tenant.id, device.id, scoring.HEALTH_KEY, 64.0),
            (minute, tenant.id, device.id, scoring.RUL_KEY, 41.5),
            (minute, tenant.id, device.id, scoring.RUL_LOW_KEY, 30.0),
            (minute, tenant.id, device.id, scoring.RUL_HIGH_KEY, 55.0),
            (minute, tenant.id, device.id, scoring.ANOMALY_KEY, 1.7),
            (minute, tenant.id, device.id, "temperature", 88.0),
        ]
    )
    device.health, device.rul_hours, device.cluster = 64.0, 41.5, 2
    device.save()
    spell = AnomalyEvent.objects.create(
        tenant=tenant,
        device=device,
        version=version,
        detector="iforest",
        started_at=minute,
        last_at=minute,
        peak_score=1.7,
        drivers=[{"metric": "temperature", "share": 0.8, "value": 88.0}],
    )
    AnomalyEvent.objects.create(
        tenant=other_tenant,
        device=theirs,
        detector="iforest",
        started_at=minute,
        last_at=minute,
        peak_score=3.0,
    )
    body = api_as(viewer).get(f"/api/v1/devices/{device.id}/prediction").json()
    assert body["health"] == 64.0 and body["cluster"] == 2
    assert body["rul"] == {"hours": 41.5, "low": 30.0, "high": 55.0}
    assert body["anomaly_score"] == 1.7
    assert body["anomaly"]["id"] == spell.id
    assert body["anomaly"]["drivers"][0]["metric"] == "temperature"
    assert body["models"] == {"anomaly": version.id}
    # the rule detectors on that minute: 88 °C is 13 past the type's 75 °C warning limit
    assert body["flags"] == [
        {"detector": "threshold", "metric": "temperature", "value": 88.0, "score": 13.0}
    ]
    assert api_as(other_admin).get(f"/api/v1/devices/{device.id}/prediction").status_code == 404

    listed = api_as(viewer).get("/api/v1/analytics/anomalies").json()["results"]
    assert [e["id"] for e in listed] == [spell.id]
    assert api_as(viewer).get(f"/api/v1/analytics/anomalies?device={theirs.id}").status_code == 404
    later = (minute + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert (
        api_as(viewer)
        .get("/api/v1/analytics/anomalies", {"open": "true", "start": later})
        .json()["results"][0]["id"]
        == spell.id
    )
    spell.ended_at = minute + timedelta(minutes=5)
    spell.save()
    assert (
        api_as(viewer).get("/api/v1/analytics/anomalies", {"start": later}).json()["results"] == []
    )
    assert api_as(viewer).get("/api/v1/analytics/anomalies?open=true").json()["results"] == []


def test_forecast_of_a_rising_temperature_names_the_crossing(  # the limit: the type's 75 °C
    api_as, viewer, other_admin, tenant
) -> None:
    device = plant.pumps(tenant, 1)[0]
    now = timezone.now().replace(second=0, microsecond=0)
    rows = []
    for i in range(180):  # three hours, rising 0.05 °C a minute to 69 °C
        at = now - timedelta(minutes=180 - i)
        rows += plant.reading(device, at, temperature=60.0 + 0.05 * i)
    write(rows)
    answer = api_as(viewer).get(
        f"/api/v1/devices/{device.id}/forecast", {"metric": "temperature", "hours": 4}
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert len(body["forecast"]["mean"]) == 240 and body["step_seconds"] == 60
    assert all(
        lo <= m <= hi
        for lo, m, hi in zip(
            body["forecast"]["low"], body["forecast"]["mean"], body["forecast"]["high"], strict=True
        )
    )
    (crossing,) = body["crossings"]
    assert (crossing["limit"], crossing["direction"]) == (75.0, "above")
    # 69 °C rising 3 °C an hour, a little damped: past 75 °C in a bit over two hours.
    assert crossing["hours"] is not None and 1.8 <= crossing["hours"] <= 3.5
    assert crossing["earliest_hours"] <= crossing["hours"]

    assert (
        api_as(other_admin)
        .get(f"/api/v1/devices/{device.id}/forecast", {"metric": "temperature"})
        .status_code
        == 404
    )
    unknown = api_as(viewer).get(f"/api/v1/devices/{device.id}/forecast", {"metric": "flux"})
    assert unknown.status_code == 400 and "'flux' has 0 minutes" in unknown.json()["metric"][0]
    too_far = api_as(viewer).get(
        f"/api/v1/devices/{device.id}/forecast", {"metric": "temperature", "hours": 100}
    )
    assert too_far.status_code == 400 and "hours" in too_far.json()


def test_scores_series_and_clusters_are_the_tenants_own(
    api_as, viewer, other_admin, tenant, other_tenant
) -> None:
    import numpy as np

    from analytics import training

    devices = plant.pumps(tenant, 3)
    end = plant.END
    write(plant.normal(devices, start=end - timedelta(hours=12), minutes=12 * 60))
    write([(end - timedelta(minutes=1), tenant.id, devices[0].id, scoring.HEALTH_KEY, 88.0)])
    series = (
        api_as(viewer)
        .get(
            f"/api/v1/devices/{devices[0].id}/scores",
            {"start": (end - timedelta(hours=1)).isoformat(), "end": end.isoformat()},
        )
        .json()
    )
    assert series["series"][scoring.HEALTH_KEY]["avg"] == [88.0]
    assert set(series["series"]) == set(scoring.DERIVED)
    assert api_as(other_admin).get(f"/api/v1/devices/{devices[0].id}/scores").status_code == 404

    missing = api_as(viewer).get("/api/v1/analytics/clusters", {"type": "pump"})
    assert missing.status_code == 404
    # A spell of the first device over its last hour: two of its windows count as anomalies.
    AnomalyEvent.objects.create(
        tenant=tenant,
        device=devices[0],
        detector="pca_t2q",
        started_at=end - timedelta(minutes=60),
        last_at=end - timedelta(minutes=1),
        peak_score=2.0,
    )
    outcome = training.cluster_train(tenant=tenant, device_type=devices[0].type, end=end)
    assert outcome.activated
    body = api_as(viewer).get("/api/v1/analytics/clusters", {"type": "pump"}).json()
    assert sum(c["anomalies"] for c in body["clusters"].values()) == 2
    points = body["points"]
    assert (
        len(points["x"])
        == 3 * 12 * 60 // 30
        == sum(c["windows"] for c in body["clusters"].values())
    )
    assert set(points["device"]) == {d.id for d in devices}
    assert np.isfinite(points["z"]).all()
    for device in devices:
        device.refresh_from_db()
        assert device.cluster is not None
    # The other tenant has no pump clusters: theirs is a 404, ours never shown to them.
    plant.pump_type(other_tenant)
    assert (
        api_as(other_admin).get("/api/v1/analytics/clusters", {"type": "pump"}).status_code == 404
    )
    assert api_as(viewer).get("/api/v1/analytics/clusters", {"type": "kettle"}).status_code == 400
