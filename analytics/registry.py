"""The model registry: versions per tenant, device type and kind, which one is active, and
every change of state recorded.

A new version is stored as a *candidate* with its backtest; :func:`model_version_promote`
makes it active only when its backtest on the held-out data is not worse than the active
version's on the *same* data (the caller scores both), retiring the old one — otherwise it stays
a candidate and the reason is recorded. The partial unique index on (tenant, type, kind) where
active means two promotions racing can never leave two active versions.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from devices.models import DeviceType
from iotplatform.tenancy.models import Tenant

from .artefacts import Stored, artefact_load
from .models import ModelKind, ModelState, ModelVersion, ModelVersionChange

# Whether a larger figure is better, per backtest metric a promotion compares.
HIGHER_IS_BETTER = {"f1": True, "rmse": False}
# How much worse than the active version a candidate may be and still count as "not worse"
# (run-to-run noise of a retrain on nearly the same window).
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Loaded:
    version: ModelVersion
    artefact: Any


def active_version(*, tenant: Tenant, device_type: DeviceType, kind: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(
        tenant=tenant, device_type=device_type, kind=kind, state=ModelState.ACTIVE
    ).first()


def active_model(*, tenant: Tenant, device_type: DeviceType, kind: str) -> Loaded | None:
    """The active version of a kind with its artefact loaded (checksum verified), or None."""
    version = active_version(tenant=tenant, device_type=device_type, kind=kind)
    if version is None:
        return None
    return Loaded(version, artefact_load(name=version.artefact, checksum=version.checksum))


def _record(version: ModelVersion, previous: str, reason: str, at: datetime) -> None:
    ModelVersionChange.objects.create(
        tenant_id=version.tenant_id,
        version=version,
        at=at,
        from_state=previous,
        to_state=version.state,
        reason=reason[:300],
    )


@transaction.atomic
def model_version_create(
    *,
    tenant: Tenant,
    device_type: DeviceType,
    kind: ModelKind,
    algorithm: str,
    stored: Stored,
    window: tuple[datetime, datetime],
    rows: int,
    devices: int,
    signals: list[str],
    params: dict[str, Any],
    metrics: dict[str, Any],
    requested_by: Any = None,
) -> ModelVersion:
    """Record a trained model as a candidate."""
    now = timezone.now()
    version = ModelVersion.objects.create(
        tenant=tenant,
        device_type=device_type,
        kind=kind,
        algorithm=algorithm,
        state=ModelState.CANDIDATE,
        trained_at=now,
        window_start=window[0],
        window_end=window[1],
        rows=rows,
        devices=devices,
        signals=signals,
        params=params,
        metrics=metrics,
        artefact=stored.name,
        checksum=stored.checksum,
        size=stored.size,
        requested_by=requested_by,
    )
    _record(version, "", f"trained on {rows:,} rows of {devices} devices", now)
    return version


def _not_worse(candidate: float, active: float, metric: str) -> bool:
    if HIGHER_IS_BETTER[metric]:
        return candidate >= active - TOLERANCE
    return candidate <= active + TOLERANCE


@transaction.atomic
def model_version_promote(
    *,
    version: ModelVersion,
    metric: str | None,
    candidate_score: float | None = None,
    active_score: float | None = None,
    on: str = "the same held-out data",
    unmeasured: str | None = None,
) -> bool:
    """Make ``version`` active if it is not worse than the active one on ``metric`` (both
    scored on the same held-out data by the caller, described by ``on``); ``metric=None``
    promotes unconditionally (kinds without a backtest). ``unmeasured``: why the two could not
    be compared — then an active version stays, the candidate kept with that reason. Returns
    whether it became active; the reason is recorded."""
    now = timezone.now()
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    active = (
        ModelVersion.objects.select_for_update()
        .filter(
            tenant_id=version.tenant_id,
            device_type_id=version.device_type_id,
            kind=version.kind,
            state=ModelState.ACTIVE,
        )
        .exclude(pk=version.pk)
        .first()
    )
    if active is not None and unmeasured is not None:
        _record(version, version.state, f"kept as candidate: {unmeasured}", now)
        return False
    if active is not None and metric is not None:
        assert candidate_score is not None
        if active_score is not None and not _not_worse(candidate_score, active_score, metric):
            _record(
                version,
                version.state,
                f"kept as candidate: backtest {metric} {candidate_score:.4g} is worse than "
                f"active v{active.pk}'s {active_score:.4g} on {on}",
                now,
            )
            return False
    if active is not None:
        active.state = ModelState.RETIRED
        active.save(update_fields=["state"])
        _record(active, ModelState.ACTIVE, f"replaced by v{version.pk}", now)
    previous = version.state
    version.state = ModelState.ACTIVE
    version.save(update_fields=["state"])
    if active is None:
        reason = "activated: no active version"
    elif metric is None:
        reason = f"activated in place of v{active.pk}"
    else:
        reason = (
            f"activated: backtest {metric} {candidate_score:.4g} not worse than "
            f"v{active.pk}'s {active_score if active_score is not None else float('nan'):.4g}"
            f"{'' if active_score is None else ' on ' + on}"
        )
    _record(version, previous, reason, now)
    return True
