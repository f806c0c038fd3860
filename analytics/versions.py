"""A trainer's result and how a trained model becomes a version: its artefact stored (checksum
recorded) and its row created as a candidate."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from devices.models import DeviceType
from iotplatform.tenancy.models import Tenant

from . import registry
from .artefacts import artefact_save
from .models import ModelKind, ModelVersion


@dataclass
class Outcome:
    version: ModelVersion | None
    activated: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.pk if self.version else None,
            "activated": self.activated,
            "message": self.message,
        }


def version_name(tenant: Tenant, device_type: DeviceType, kind: str) -> str:
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    return f"{tenant.id}/{device_type.id}/{kind}-{stamp}.joblib"


def version_store(
    *,
    tenant: Tenant,
    device_type: DeviceType,
    kind: ModelKind,
    obj: Any,
    algorithm: str,
    window: tuple[datetime, datetime],
    rows: int,
    devices: int,
    signals: list[str],
    params: dict[str, Any],
    metrics: dict[str, Any],
    requested_by: Any,
) -> ModelVersion:
    stored = artefact_save(obj, name=version_name(tenant, device_type, kind))
    return registry.model_version_create(
        tenant=tenant,
        device_type=device_type,
        kind=kind,
        algorithm=algorithm,
        stored=stored,
        window=window,
        rows=rows,
        devices=devices,
        signals=signals,
        params=params,
        metrics=metrics,
        requested_by=requested_by,
    )
