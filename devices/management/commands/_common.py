from django.core.management.base import CommandError

from devices.models import Device
from iotplatform.tenancy.models import Tenant


def tenant_get(slug: str) -> Tenant:
    try:
        return Tenant.objects.get(slug=slug)
    except Tenant.DoesNotExist:
        raise CommandError(f"No tenant with slug {slug!r}.") from None


def device_get(tenant: Tenant, ref: str) -> Device:
    """A device of the tenant by serial, or by id when the reference is a number."""
    device = Device.objects.filter(tenant=tenant, serial=ref).first()
    if device is None and ref.isdigit():
        device = Device.objects.filter(tenant=tenant, pk=int(ref)).first()
    if device is None:
        raise CommandError(f"No device {ref!r} in tenant {tenant.slug}.")
    return device
