"""Reads about devices. Every selector takes the tenant first and returns nothing without one."""

from typing import Any

from django.db.models import Avg, Count, Max, Q, QuerySet

from iotplatform.tenancy.models import Tenant

from .models import Command, Device, DeviceStatus, DeviceStatusChange, DeviceType

FAIL_SOON_HOURS = 24.0
FAIL_WEEK_HOURS = 7 * 24.0


def device_list(
    *, tenant: Tenant | None, filters: dict[str, Any] | None = None
) -> QuerySet[Device]:
    """A tenant's devices with their type, optionally filtered by status, type or a search."""
    if tenant is None:
        return Device.objects.none()
    qs = Device.objects.filter(tenant=tenant).select_related("type")
    filters = filters or {}
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if type_name := filters.get("type"):
        qs = qs.filter(type__name=type_name)
    if search := filters.get("search"):
        qs = qs.filter(name__icontains=search) | qs.filter(serial__icontains=search)
    return qs.order_by("name", "id")


def device_type_list(*, tenant: Tenant | None) -> QuerySet[DeviceType]:
    if tenant is None:
        return DeviceType.objects.none()
    return DeviceType.objects.filter(tenant=tenant).order_by("name")


def device_type_get(*, tenant: Tenant, name: str) -> DeviceType | None:
    """The tenant's device type of that name, or None: the one lookup by name (API views,
    commands, imports)."""
    return device_type_list(tenant=tenant).filter(name=name).first()


def status_change_list(
    *, tenant: Tenant | None, device: Device | None = None
) -> QuerySet[DeviceStatusChange]:
    """Status changes of the tenant's devices (or one of them), newest first."""
    if tenant is None:
        return DeviceStatusChange.objects.none()
    qs = DeviceStatusChange.objects.filter(tenant=tenant)
    if device is not None:
        qs = qs.filter(device=device)
    return qs.order_by("-at", "-id")


def command_list(*, tenant: Tenant | None, device: Device | None = None) -> QuerySet[Command]:
    """Commands of the tenant's devices (or one of them), newest first."""
    if tenant is None:
        return Command.objects.none()
    qs = Command.objects.filter(tenant=tenant).select_related("created_by")
    if device is not None:
        qs = qs.filter(device=device)
    return qs.order_by("-created_at", "-id")


def fleet_status(*, tenant: Tenant) -> dict[str, Any]:
    """The tenant's devices by status (``total``, ``active`` — healthy or anomalous — and one
    count per status), their average health, how many are predicted to fail within a day and
    within a week (remaining useful life; devices in maintenance left out) and when the newest
    of them last reported."""
    devices = Device.objects.filter(tenant=tenant)
    counts = {status: 0 for status in DeviceStatus.values}
    for row in devices.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    serviced = Q(status=DeviceStatus.MAINTENANCE)
    figures = devices.aggregate(
        health=Avg("health"),
        newest=Max("last_seen"),
        fail_24h=Count("id", filter=Q(rul_hours__lte=FAIL_SOON_HOURS) & ~serviced),
        fail_7d=Count("id", filter=Q(rul_hours__lte=FAIL_WEEK_HOURS) & ~serviced),
    )
    active = (DeviceStatus.HEALTHY, DeviceStatus.ANOMALY)
    return {
        "devices": {
            "total": sum(counts.values()),
            "active": sum(counts[s] for s in active),
            **counts,
        },
        "avg_health": figures["health"],
        "fail_24h": figures["fail_24h"],
        "fail_7d": figures["fail_7d"],
        "last_seen": figures["newest"],
    }


def attention_list(*, devices: list[Device], limit: int = 12) -> list[Device]:
    """The devices that need attention, the riskiest first: those not healthy or predicted to
    fail within a week, by remaining useful life (unknown last), then status (anomaly, offline,
    maintenance), then health."""
    rank: dict[str, int] = {
        DeviceStatus.ANOMALY: 0,
        DeviceStatus.OFFLINE: 1,
        DeviceStatus.MAINTENANCE: 2,
    }
    risky = [
        d
        for d in devices
        if d.status != DeviceStatus.HEALTHY
        or (d.rul_hours is not None and d.rul_hours <= FAIL_WEEK_HOURS)
    ]
    risky.sort(
        key=lambda d: (
            d.rul_hours is None,
            d.rul_hours or 0.0,
            rank.get(d.status, 3),
            d.health if d.health is not None else 101.0,
            d.name,
        )
    )
    return risky[:limit]
