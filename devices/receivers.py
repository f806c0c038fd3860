"""Devices' answers to what the floor below announces."""

from typing import Any

from django.dispatch import receiver

from iotplatform.tenancy.models import Tenant
from iotplatform.tenancy.signals import tenant_created

from .services import device_types_install_catalog


@receiver(tenant_created)
def install_catalog(sender: Any, *, tenant: Tenant, **kwargs: Any) -> None:
    """A new tenant starts with the standard device types (pump, motor, compressor, …)."""
    device_types_install_catalog(tenant=tenant)
