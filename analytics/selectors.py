"""Reads of the analytics engine: model versions, training runs, anomaly spells, a device's
current prediction. Tenant first; nothing without one."""

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from devices.models import Device, DeviceType
from iotplatform.tenancy.models import Tenant

from .models import AnomalyEvent, ModelState, ModelVersion, TrainingRun


def model_version_list(
    *, tenant: Tenant | None, filters: dict[str, Any] | None = None
) -> QuerySet[ModelVersion]:
    """The tenant's model versions, newest first; filters: ``type`` (a device type's name),
    ``kind``, ``state``."""
    if tenant is None:
        return ModelVersion.objects.none()
    filters = filters or {}
    versions = ModelVersion.objects.filter(tenant=tenant).select_related("device_type")
    if filters.get("type"):
        versions = versions.filter(device_type__name=filters["type"])
    if filters.get("kind"):
        versions = versions.filter(kind=filters["kind"])
    if filters.get("state"):
        versions = versions.filter(state=filters["state"])
    return versions.prefetch_related("changes")


def active_versions(*, tenant: Tenant | None, device_type: DeviceType) -> dict[str, ModelVersion]:
    if tenant is None:
        return {}
    return {
        v.kind: v
        for v in ModelVersion.objects.filter(
            tenant=tenant, device_type=device_type, state=ModelState.ACTIVE
        )
    }


def training_run_list(*, tenant: Tenant | None) -> QuerySet[TrainingRun]:
    if tenant is None:
        return TrainingRun.objects.none()
    return TrainingRun.objects.filter(tenant=tenant).select_related("device_type")


def anomaly_event_list(
    *,
    tenant: Tenant | None,
    device: Device | None = None,
    open_only: bool = False,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[AnomalyEvent]:
    """The tenant's anomaly spells, newest first; those overlapping [start, end) when given."""
    if tenant is None:
        return AnomalyEvent.objects.none()
    events = AnomalyEvent.objects.filter(tenant=tenant).select_related("device")
    if device is not None:
        events = events.filter(device=device)
    if open_only:
        events = events.filter(ended_at__isnull=True)
    if end is not None:
        events = events.filter(started_at__lt=end)
    if start is not None:
        events = events.filter(Q(ended_at__isnull=True) | Q(ended_at__gte=start))
    return events


def open_anomaly(*, tenant: Tenant | None, device: Device) -> AnomalyEvent | None:
    if tenant is None:
        return None
    return AnomalyEvent.objects.filter(tenant=tenant, device=device, ended_at__isnull=True).first()
