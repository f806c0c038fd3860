"""What every API view about the tenant's devices shares, the devices app's and the telemetry
app's alike (an ``api/`` package may read any app's selectors; views share this base)."""

from django.db.models import QuerySet
from rest_framework import exceptions

from devices import selectors
from devices.models import Device, DeviceType
from iotplatform.tenancy.models import Tenant
from iotplatform.tenancy.scoping import TenantAPIView


class DeviceScopedView(TenantAPIView):
    """Base of views about one of the tenant's devices (``pk`` in the URL: another tenant's is
    a 404, like a missing one) or about its fleet."""

    def tenant_queryset(self) -> QuerySet[Device]:
        return selectors.device_list(tenant=self.tenant)


def device_type_or_400(*, tenant: Tenant, name: str, field: str = "type") -> DeviceType:
    """The tenant's device type named in a request; a 400 naming the field otherwise."""
    device_type = selectors.device_type_get(tenant=tenant, name=name)
    if device_type is None:
        raise exceptions.ValidationError({field: [f"Unknown device type {name!r}."]})
    return device_type
