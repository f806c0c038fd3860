"""Reads of the analytics engine: model versions, training runs, anomaly spells, a device's
current prediction. Tenant first; nothing without one."""

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from devices.models import Device, DeviceType
from iotplatform.tenancy.models import Tenant

from .artefacts import artefact_load
from .models import AnomalyEvent, ModelKind, ModelState, ModelVersion, TrainingRun


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


def clusters_view(*, tenant: Tenant | None, device_type: DeviceType) -> dict[str, Any] | None:
    """The active cluster version of the type, shaped for a 3-D plot; None without one."""
    version = active_versions(tenant=tenant, device_type=device_type).get(ModelKind.CLUSTER)
    if version is None:
        return None
    artefact = artefact_load(name=version.artefact, checksum=version.checksum)
    result = artefact["result"]
    index = artefact["index"]
    devices = [int(d) for d in index.get_level_values(0)]
    names = dict(
        Device.objects.filter(tenant=tenant, id__in=set(devices)).values_list("id", "name")
    )
    labels = [int(label) for label in result.labels]
    anomalies = getattr(result, "anomalies", None) or {}
    return {
        "version": version.pk,
        "device_type": device_type.name,
        "trained_at": version.trained_at,
        "eps": float(result.eps),
        "explained": [float(v) for v in result.explained],
        "window_minutes": int(version.params.get("window_minutes", 0)),
        "clusters": {
            str(label): {"windows": int(count), "anomalies": int(anomalies.get(label, 0))}
            for label, count in sorted(result.counts.items())
        },
        "points": {
            "device": devices,
            "name": [names.get(d, "") for d in devices],
            "start": list(index.get_level_values(1)),
            "x": [round(float(v), 4) for v in result.coords[:, 0]],
            "y": [round(float(v), 4) for v in result.coords[:, 1]],
            "z": [round(float(v), 4) for v in result.coords[:, 2]],
            "cluster": labels,
        },
    }
