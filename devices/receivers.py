"""Devices' answers to what the floor below announces, and to changes of its own models made
outside its services (the Django admin, cascades)."""

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from iotplatform.tenancy.models import Tenant
from iotplatform.tenancy.signals import tenant_created

from .credentials import revocation_announce
from .models import Device, DeviceCredential, IngestKey
from .services import device_types_install_catalog


@receiver(tenant_created)
def install_catalog(sender: Any, *, tenant: Tenant, **kwargs: Any) -> None:
    """A new tenant starts with the standard device types (pump, motor, compressor, …)."""
    device_types_install_catalog(tenant=tenant)


@receiver(post_save, sender=DeviceCredential)
@receiver(post_save, sender=IngestKey)
def credential_saved(sender: Any, *, instance: DeviceCredential | IngestKey, **kwargs: Any) -> None:
    if instance.revoked_at is not None:
        revocation_announce()


@receiver(post_delete, sender=DeviceCredential)
@receiver(post_delete, sender=IngestKey)
@receiver(post_delete, sender=Device)
def credential_deleted(sender: Any, **kwargs: Any) -> None:
    """A deleted device (its serial too: gateways name devices by serial), token or key stops
    working in every ingest process at once."""
    revocation_announce()
