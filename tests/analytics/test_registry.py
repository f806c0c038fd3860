"""The model registry and its artefacts: checksum-guarded loading, promotion only when the
backtest is not worse, every change recorded, never two active versions."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from analytics import artefacts, registry
from analytics.models import ModelKind, ModelState, ModelVersion, ModelVersionChange

from .plant import pump_type


def _version(tenant, f1: float) -> ModelVersion:
    stored = artefacts.artefact_save({"f1": f1}, name=f"{tenant.id}/test.joblib")
    now = timezone.now()
    return registry.model_version_create(
        tenant=tenant,
        device_type=pump_type(tenant),
        kind=ModelKind.ANOMALY,
        algorithm="pca_t2q",
        stored=stored,
        window=(now - timedelta(days=1), now),
        rows=100,
        devices=2,
        signals=["temperature"],
        params={},
        metrics={"f1": f1},
    )


def test_an_artefact_loads_only_with_its_checksum(db: None, tenant) -> None:
    stored = artefacts.artefact_save({"weights": [1, 2, 3]}, name="t/roundtrip.joblib")
    assert artefacts.artefact_load(name=stored.name, checksum=stored.checksum) == {
        "weights": [1, 2, 3]
    }
    artefacts._cache.clear()
    path = artefacts.storages["models"].path(stored.name)
    with open(path, "r+b") as handle:  # a file swapped behind the platform's back
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(artefacts.ArtefactError, match="does not match its recorded checksum"):
        artefacts.artefact_load(name=stored.name, checksum=stored.checksum)
    with pytest.raises(artefacts.ArtefactError, match="missing"):
        artefacts.artefact_load(name="t/never-written.joblib", checksum=stored.checksum)


def test_the_first_version_becomes_active(db: None, tenant) -> None:
    version = _version(tenant, 0.8)
    assert registry.model_version_promote(
        version=version, metric="f1", candidate_score=0.8, active_score=None
    )
    version.refresh_from_db()
    assert version.state == ModelState.ACTIVE
    reasons = list(version.changes.values_list("to_state", "reason"))
    assert reasons[0][0] == ModelState.CANDIDATE
    assert reasons[-1] == (ModelState.ACTIVE, "activated: no active version")


def test_a_worse_version_stays_candidate_and_a_better_one_replaces(db: None, tenant) -> None:
    first = _version(tenant, 0.8)
    registry.model_version_promote(version=first, metric="f1", candidate_score=0.8)
    worse = _version(tenant, 0.7)
    assert not registry.model_version_promote(
        version=worse, metric="f1", candidate_score=0.7, active_score=0.8
    )
    worse.refresh_from_db()
    first.refresh_from_db()
    assert (worse.state, first.state) == (ModelState.CANDIDATE, ModelState.ACTIVE)
    assert (
        "kept as candidate: backtest f1 0.7 is worse than active"
        in worse.changes.get(to_state=ModelState.CANDIDATE, reason__startswith="kept").reason
    )

    better = _version(tenant, 0.85)
    assert registry.model_version_promote(
        version=better, metric="f1", candidate_score=0.85, active_score=0.8
    )
    first.refresh_from_db()
    assert first.state == ModelState.RETIRED
    assert (
        first.changes.filter(to_state=ModelState.RETIRED).get().reason
        == f"replaced by v{better.pk}"
    )
    assert (
        registry.active_version(tenant=tenant, device_type=pump_type(tenant), kind="anomaly")
        == better
    )
    # RMSE: lower is better.
    assert registry._not_worse(10.0, 10.5, "rmse") and not registry._not_worse(11.0, 10.5, "rmse")


def test_the_database_refuses_a_second_active_version(db: None, tenant) -> None:
    first, second = _version(tenant, 0.8), _version(tenant, 0.9)
    registry.model_version_promote(version=first, metric=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=second.pk).update(state=ModelState.ACTIVE)


def test_versions_are_the_tenants_own(db: None, tenant, other_tenant) -> None:
    registry.model_version_promote(version=_version(tenant, 0.8), metric=None)
    assert (
        registry.active_model(
            tenant=other_tenant, device_type=pump_type(other_tenant), kind="anomaly"
        )
        is None
    )
    assert ModelVersionChange.objects.filter(tenant=other_tenant).count() == 0
