"""Writes about devices: types, registration, credentials, gateway keys and status."""

import json
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from iotplatform.tenancy.models import Tenant

from . import catalog, credentials, status, tokens
from .metrics import is_metric_key
from .models import (
    Device,
    DeviceCredential,
    DeviceType,
    IngestKey,
)

METRIC_NUMBER_FIELDS = ("min", "max", "warn_low", "warn_high", "alarm_low", "alarm_high")


def metrics_validate(metrics: Any) -> dict[str, Any]:
    """Check a device type's metric definitions; raise ValidationError naming the bad entry."""
    if not isinstance(metrics, dict):
        raise ValidationError({"metrics": "An object of metric key → definition."})
    for key, definition in metrics.items():
        if not is_metric_key(key):
            raise ValidationError({"metrics": f"Bad metric key {key!r}: letters, digits, _ . -"})
        if not isinstance(definition, dict):
            raise ValidationError({"metrics": f"{key}: the definition must be an object."})
        for field in METRIC_NUMBER_FIELDS:
            value = definition.get(field)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValidationError({"metrics": f"{key}.{field} must be a number."})
        low, high = definition.get("min"), definition.get("max")
        if low is not None and high is not None and low >= high:
            raise ValidationError({"metrics": f"{key}: min must be below max."})
    return metrics


@transaction.atomic
def device_type_create(
    *,
    tenant: Tenant,
    name: str,
    metrics: dict[str, Any] | None = None,
    expected_interval_seconds: int = 5,
    zscore_window: int = 20,
    zscore_threshold: float = 2.0,
    residual_threshold: float = 6.0,
) -> DeviceType:
    """Create a device type of a tenant; the name must be new within the tenant."""
    if DeviceType.objects.filter(tenant=tenant, name=name).exists():
        raise ValidationError({"name": f"Device type {name!r} already exists."})
    device_type = DeviceType(
        tenant=tenant,
        name=name,
        metrics=metrics_validate(metrics or {}),
        expected_interval_seconds=expected_interval_seconds,
        zscore_window=zscore_window,
        zscore_threshold=zscore_threshold,
        residual_threshold=residual_threshold,
    )
    device_type.full_clean()
    device_type.save()
    return device_type


DEVICE_TYPE_SETTINGS = (
    "expected_interval_seconds",
    "zscore_window",
    "zscore_threshold",
    "residual_threshold",
)


@transaction.atomic
def device_type_update(*, device_type: DeviceType, **changes: Any) -> DeviceType:
    """Change a type's reporting interval or its z-score and residual detector settings
    (validated by the model: a bad value is a ValidationError naming the field, nothing
    saved)."""
    unknown = set(changes) - set(DEVICE_TYPE_SETTINGS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "Not a setting of a device type."})
    if not changes:
        return device_type
    for name, value in changes.items():
        setattr(device_type, name, value)
    device_type.full_clean()
    device_type.save(update_fields=list(changes))
    return device_type


@transaction.atomic
def device_types_install_catalog(*, tenant: Tenant) -> list[DeviceType]:
    """Give a tenant the standard device types (pump, motor, …); idempotent."""
    installed = []
    for name, spec in catalog.DEVICE_TYPES.items():
        device_type, _ = DeviceType.objects.get_or_create(
            tenant=tenant,
            name=name,
            defaults={
                "metrics": spec["metrics"],
                "expected_interval_seconds": spec["expected_interval_seconds"],
            },
        )
        installed.append(device_type)
    return installed


def _credential_issue(device: Device) -> str:
    new = tokens.token_generate()
    DeviceCredential.objects.create(device=device, prefix=new.prefix, token_hash=new.token_hash)
    return new.token


@transaction.atomic
def device_create(
    *,
    tenant: Tenant,
    device_type: DeviceType,
    name: str,
    serial: str = "",
    location: str = "",
    tags: list[str] | None = None,
) -> tuple[Device, str]:
    """Register a device of a tenant and issue its token (returned once, stored hashed).

    The type must be the tenant's and the serial new within the tenant; without a serial one is
    made from the device's id.
    """
    if device_type.tenant_id != tenant.id:
        raise ValidationError({"type": "Unknown device type."})
    if serial and Device.objects.filter(tenant=tenant, serial=serial).exists():
        raise ValidationError({"serial": f"A device with serial {serial!r} already exists."})
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise ValidationError({"tags": "A list of strings."})
    device = Device(
        tenant=tenant,
        type=device_type,
        name=name,
        serial=serial or f"pending-{tokens.token_generate().prefix}",
        location=location,
        tags=tags or [],
    )
    device.full_clean()
    device.save()
    if not serial:
        device.serial = f"{device_type.name[:3].upper()}-{device.id:05d}"
        device.save(update_fields=["serial"])
    return device, _credential_issue(device)


@transaction.atomic
def device_update(*, device: Device, **fields: Any) -> Device:
    """Change a device's name, location, tags or type (within its tenant)."""
    allowed = {"name", "location", "tags", "type"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "This field cannot be changed."})
    if "type" in fields and fields["type"].tenant_id != device.tenant_id:
        raise ValidationError({"type": "Unknown device type."})
    for key, value in fields.items():
        setattr(device, key, value)
    device.full_clean()
    device.save()
    return device


@transaction.atomic
def device_delete(*, device: Device) -> None:
    """Delete a device with its credentials, history and readings."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM telemetry_reading WHERE device_id = %s", [device.id])
        for table in ("telemetry_latest", "telemetry_rollup_1m", "telemetry_rollup_1h"):
            cursor.execute(f"DELETE FROM {table} WHERE device_id = %s", [device.id])
    device.delete()


@transaction.atomic
def device_token_rotate(*, device: Device) -> str:
    """Revoke every token of the device and issue a new one (returned once)."""
    DeviceCredential.objects.filter(device=device, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    credentials.revocation_announce()
    return _credential_issue(device)


@transaction.atomic
def device_token_revoke(*, device: Device) -> int:
    """Revoke every token of the device; it can no longer send until a new one is issued."""
    revoked = DeviceCredential.objects.filter(device=device, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    credentials.revocation_announce()
    return revoked


@transaction.atomic
def ingest_key_create(*, tenant: Tenant, name: str = "gateway") -> tuple[IngestKey, str]:
    """Issue a tenant ingestion key for gateways (returned once, stored hashed)."""
    new = tokens.token_generate()
    key = IngestKey.objects.create(
        tenant=tenant, name=name, prefix=new.prefix, token_hash=new.token_hash
    )
    return key, new.token


def ingest_key_authenticate(key: str) -> IngestKey | None:
    """The active ingestion key matching ``key``, or None."""
    prefix = tokens.token_prefix(key)
    if prefix is None:
        return None
    found = (
        IngestKey.objects.select_related("tenant")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if found is None or not tokens.token_matches(key, found.token_hash):
        return None
    return found


@transaction.atomic
def devices_provision(*, tenant: Tenant, specs: list[dict[str, Any]]) -> list[tuple[Device, str]]:
    """Register devices a gateway or simulator announces (by serial), issuing each a token.

    A serial the tenant already has keeps its device and gets a new token (the old ones are
    revoked): the caller holds the tenant's ingestion key, and may have lost its tokens. A type
    the tenant lacks is created from the standard catalogue when it is one of its names.
    """
    types = {t.name: t for t in DeviceType.objects.filter(tenant=tenant)}
    if any(spec["type"] not in types for spec in specs):
        types.update({t.name: t for t in device_types_install_catalog(tenant=tenant)})
    unknown = sorted({spec["type"] for spec in specs} - set(types))
    if unknown:
        raise ValidationError({"type": f"Unknown device type {unknown[0]!r}."})
    existing = {
        d.serial: d
        for d in Device.objects.filter(tenant=tenant, serial__in=[spec["serial"] for spec in specs])
    }
    out = []
    for spec in specs:
        device = existing.get(spec["serial"])
        if device is None:
            device, token = device_create(
                tenant=tenant,
                device_type=types[spec["type"]],
                name=spec["name"],
                serial=spec["serial"],
                location=spec.get("location", ""),
            )
        else:
            token = device_token_rotate(device=device)
        out.append((device, token))
    return out


@transaction.atomic
def ingest_key_revoke(*, key: IngestKey) -> None:
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])


@transaction.atomic
def device_maintenance_set(*, device: Device, on: bool) -> Device:
    """Put a device into maintenance (alerts and offline detection leave it alone) or take it
    out; out of maintenance it is offline until its next reading says otherwise."""
    return status.device_status_set(
        device=device, transition=status.MAINTENANCE_ON if on else status.MAINTENANCE_OFF
    )


def device_offline_sweep(*, now: datetime | None = None) -> int:
    """Mark devices offline after 3 times their expected interval (their own, else their
    type's) without data; each change recorded and published. Returns how many went offline."""
    return len(status.devices_silent_sweep(now=now))


DEVICE_SCORES_SQL = """
UPDATE devices_device d SET health = v.health, rul_hours = COALESCE(v.rul, d.rul_hours)
FROM unnest(%(ids)s::int8[], %(health)s::float8[], %(rul)s::float8[]) AS v(id, health, rul)
WHERE d.id = v.id AND d.tenant_id = %(tenant)s
"""


def devices_scores_set(
    *, tenant: Tenant, scores: "dict[int, tuple[float | None, float | None]]"
) -> int:
    """Set each device's current health (0-100) and remaining useful life (hours), as the
    analytics engine scored them: device id → (health, rul_hours; None keeps the device's last
    RUL, scored less often than health). Another tenant's ids are
    left alone. One statement for any number of devices; returns how many were updated. The
    apply cycle calls it with the devices' rows already locked (``status.devices_lock``), as
    it does ``devices_forecast_set``."""
    if not scores:
        return 0
    ids = sorted(scores)
    with connection.cursor() as cursor:
        cursor.execute(
            DEVICE_SCORES_SQL,
            {
                "ids": ids,
                "health": [scores[i][0] for i in ids],
                "rul": [scores[i][1] for i in ids],
                "tenant": tenant.id,
            },
        )
        return int(cursor.rowcount)


def devices_forecast_set(*, tenant: Tenant, crossings: "dict[int, dict[str, Any] | None]") -> int:
    """Set each forecast device's soonest foreseen crossing of a warning limit (None: none
    foreseen), as the analytics engine found it; another tenant's ids are left alone."""
    if not crossings:
        return 0
    ids = sorted(crossings)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE devices_device d SET forecast_crossing = v.crossing "
            "FROM unnest(%(ids)s::int8[], %(crossings)s::jsonb[]) AS v(id, crossing) "
            "WHERE d.id = v.id AND d.tenant_id = %(tenant)s",
            {
                "ids": ids,
                "crossings": [
                    None if crossings[i] is None else json.dumps(crossings[i]) for i in ids
                ],
                "tenant": tenant.id,
            },
        )
        return int(cursor.rowcount)


def devices_cluster_set(*, tenant: Tenant, clusters: "dict[int, int]") -> int:
    """Set each device's behaviour cluster (-1: an outlier), as the analytics engine found
    them; another tenant's ids are left alone. The rows are locked in id order first, as
    ingestion's last_seen flush takes them: a retrain never deadlocks with it."""
    if not clusters:
        return 0
    ids = sorted(clusters)
    with transaction.atomic(), connection.cursor() as cursor:
        status.devices_lock(ids)  # in id order, as every writer of many devices' rows
        cursor.execute(
            "UPDATE devices_device d SET cluster = v.cluster "
            "FROM unnest(%(ids)s::int8[], %(clusters)s::int4[]) AS v(id, cluster) "
            "WHERE d.id = v.id AND d.tenant_id = %(tenant)s",
            {"ids": ids, "clusters": [clusters[i] for i in ids], "tenant": tenant.id},
        )
        return int(cursor.rowcount)
