"""Writes about devices."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from iotplatform.live import publish_on_commit
from iotplatform.tenancy.models import Tenant

from .models import Device, DeviceStatus, DeviceType


@transaction.atomic
def device_type_create(
    *,
    tenant: Tenant,
    name: str,
    metrics: dict[str, Any] | None = None,
    expected_interval_seconds: int = 5,
) -> DeviceType:
    """Create a device type of a tenant; the name must be new within the tenant."""
    if DeviceType.objects.filter(tenant=tenant, name=name).exists():
        raise ValidationError({"name": f"Device type {name!r} already exists."})
    device_type = DeviceType(
        tenant=tenant,
        name=name,
        metrics=metrics or {},
        expected_interval_seconds=expected_interval_seconds,
    )
    device_type.full_clean()
    device_type.save()
    return device_type


@transaction.atomic
def device_create(
    *,
    tenant: Tenant,
    device_type: DeviceType,
    name: str,
    serial: str,
    location: str = "",
    tags: list[str] | None = None,
) -> Device:
    """Register a device of a tenant; its type must be the tenant's and its serial new."""
    if device_type.tenant_id != tenant.id:
        raise ValidationError({"type": "Unknown device type."})
    if Device.objects.filter(tenant=tenant, serial=serial).exists():
        raise ValidationError({"serial": f"A device with serial {serial!r} already exists."})
    device = Device(
        tenant=tenant,
        type=device_type,
        name=name,
        serial=serial,
        location=location,
        tags=tags or [],
    )
    device.full_clean()
    device.save()
    return device


@transaction.atomic
def device_maintenance_set(*, device: Device, on: bool) -> Device:
    """Put a device into maintenance (alerts and offline detection leave it alone) or take it
    out; out of maintenance it is offline until its next reading says otherwise."""
    device = Device.objects.select_for_update().get(pk=device.pk)
    previous = device.status
    new = DeviceStatus.MAINTENANCE if on else DeviceStatus.OFFLINE
    if previous == DeviceStatus.MAINTENANCE and on:
        return device
    if previous != DeviceStatus.MAINTENANCE and not on:
        return device
    device.status = new
    device.save(update_fields=["status"])
    publish_on_commit(
        tenant_id=device.tenant_id,
        event="device.status",
        data={"device": device.id, "from": previous, "to": new},
    )
    return device
