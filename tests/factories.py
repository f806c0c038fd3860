"""Small factories for the test suite: plain functions over the real services."""

import itertools
from typing import Any

from devices.models import Device, DeviceType
from iotplatform.tenancy.models import Role, Tenant
from iotplatform.tenancy.services import user_create

_seq = itertools.count(1)

PASSWORD = "correct-horse-battery-9"


def make_tenant(slug: str | None = None, name: str | None = None) -> Tenant:
    n = next(_seq)
    return Tenant.objects.create(slug=slug or f"tenant-{n}", name=name or f"Tenant {n}")


def make_user(tenant: Tenant, role: str = Role.VIEWER, username: str | None = None) -> Any:
    user, _ = user_create(
        tenant=tenant, username=username or f"{role}-{next(_seq)}", role=role, password=PASSWORD
    )
    return user


def make_device_type(tenant: Tenant, name: str = "pump") -> DeviceType:
    return DeviceType.objects.create(
        tenant=tenant,
        name=name,
        metrics={"temperature": {"unit": "°C", "min": 0, "max": 120}},
    )


def make_device(tenant: Tenant, device_type: DeviceType | None = None, **fields: Any) -> Device:
    n = next(_seq)
    device_type = (
        device_type or DeviceType.objects.filter(tenant=tenant).first() or make_device_type(tenant)
    )
    defaults: dict[str, Any] = {
        "name": f"Device {n}",
        "serial": f"SN-{n:05d}",
        "location": "Hall 1",
    }
    defaults.update(fields)
    return Device.objects.create(tenant=tenant, type=device_type, **defaults)


def streamed(response: Any) -> bytes:
    """The whole body of a streamed response (an asynchronous stream, as the ASGI server
    sends it chunk by chunk, or a synchronous one)."""
    from asgiref.sync import async_to_sync

    if not response.is_async:
        return b"".join(response.streaming_content)

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)()
