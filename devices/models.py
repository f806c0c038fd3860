"""Device types and devices of a tenant.

Credentials, commands and desired/reported configuration come with the devices-and-telemetry
capability; the fields that later capabilities fill (health, RUL, cluster) are here already so
the data model matches DESIGN.md.
"""

from django.core.exceptions import ValidationError
from django.db import models

from iotplatform.tenancy.models import Tenant


class DeviceType(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="device_types")
    name = models.CharField(max_length=100)
    # key -> {"unit", "label", "min", "max", "warn_high", ...}: metric definitions and defaults.
    metrics = models.JSONField(default=dict, blank=True)
    expected_interval_seconds = models.PositiveIntegerField(default=5)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="devicetype_unique_tenant_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DeviceStatus(models.TextChoices):
    HEALTHY = "healthy", "Healthy"
    ANOMALY = "anomaly", "Anomaly"
    OFFLINE = "offline", "Offline"
    MAINTENANCE = "maintenance", "Maintenance"


class Device(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="devices")
    type = models.ForeignKey(DeviceType, on_delete=models.PROTECT, related_name="devices")
    name = models.CharField(max_length=200)
    serial = models.CharField(max_length=100)
    location = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=list, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.OFFLINE
    )
    health = models.FloatField(null=True, blank=True)
    rul_hours = models.FloatField(null=True, blank=True)
    cluster = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "serial"], name="device_unique_tenant_serial")
        ]
        indexes = [models.Index(fields=["tenant", "status"])]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.serial})"

    def clean(self) -> None:
        if self.type_id and self.tenant_id and self.type.tenant_id != self.tenant_id:
            raise ValidationError({"type": "The device type belongs to another tenant."})
