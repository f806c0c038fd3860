"""Device types, devices, their credentials and status history, and gateway ingestion keys.

Commands and desired/reported configuration come with the simulator capability; the fields
that later capabilities fill (health, RUL, cluster) are here already so the data model matches
DESIGN.md.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from iotplatform.tenancy.models import Tenant


class DeviceType(models.Model):
    """A kind of device and the metrics it reports.

    ``metrics`` maps a metric key to its definition: ``unit``, ``label``, the expected range
    ``min``/``max`` and default alert thresholds ``warn_low``/``warn_high``/``alarm_low``/
    ``alarm_high`` (any may be absent). Devices may report metrics not declared here: they are
    stored and listed all the same.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="device_types")
    name = models.CharField(max_length=100)
    metrics = models.JSONField(default=dict, blank=True)
    expected_interval_seconds = models.PositiveIntegerField(default=5)
    # The apply cycle's rolling z-score detector: a metric's latest minute mean against the
    # mean and spread of the previous ``zscore_window`` minutes, flagged past the threshold.
    # At most two hours: every minute's cycle reads that much of every device.
    zscore_window = models.PositiveIntegerField(
        default=20,
        validators=[MinValueValidator(3), MaxValueValidator(120)],
        help_text="minutes the rolling z-score compares the latest minute with",
    )
    zscore_threshold = models.FloatField(
        default=2.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(20.0)],
        help_text="standard deviations from that window that flag a metric",
    )
    # The apply cycle's residual detector: each metric of a device against its own fit on its
    # other metrics over its previous day, flagged past this many of the fit's residual
    # standard deviations (the simulator's types chose 4 to 10 on validation).
    residual_threshold = models.FloatField(
        default=6.0,
        validators=[MinValueValidator(2.0), MaxValueValidator(50.0)],
        help_text="residual standard deviations from the device's own fit that flag a metric",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], name="devicetype_unique_tenant_name"
            ),
            models.CheckConstraint(
                condition=models.Q(zscore_window__gte=3, zscore_window__lte=120),
                name="devicetype_zscore_window_range",
            ),
            models.CheckConstraint(
                condition=models.Q(zscore_threshold__gte=0.5, zscore_threshold__lte=20.0),
                name="devicetype_zscore_threshold_range",
            ),
            models.CheckConstraint(
                condition=models.Q(residual_threshold__gte=2.0, residual_threshold__lte=50.0),
                name="devicetype_residual_threshold_range",
            ),
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
    desired_config = models.JSONField(
        default=dict, blank=True, help_text="configuration the platform wants (set_config)"
    )
    reported_config = models.JSONField(
        default=dict, blank=True, help_text="configuration the device says it runs"
    )
    health = models.FloatField(null=True, blank=True)
    rul_hours = models.FloatField(null=True, blank=True)
    cluster = models.IntegerField(null=True, blank=True)
    # The analytics engine's latest forecast (every few minutes): the soonest crossing of a
    # warning limit within its horizon (metric, limit, direction, hours, earliest_hours), or
    # none foreseen.
    forecast_crossing = models.JSONField(null=True, blank=True)
    # The last message the platform could not store whole, and why (MQTT has no answer to send
    # it back in; the HTTP answer carries it as well): set by the MQTT bridge.
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "serial"], name="device_unique_tenant_serial")
        ]
        indexes = [models.Index(fields=["tenant", "status"])]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.serial})"

    def metric_definitions(self) -> dict[str, dict[str, Any]]:
        """The type's metric definitions with this device's own thresholds (sent with
        set_config) over the type's defaults."""
        own = (self.desired_config or {}).get("thresholds", {})
        return {key: {**spec, **own.get(key, {})} for key, spec in self.type.metrics.items()}

    def clean(self) -> None:
        if self.type_id and self.tenant_id and self.type.tenant_id != self.tenant_id:
            raise ValidationError({"type": "The device type belongs to another tenant."})


class HashedToken(models.Model):
    """A secret stored as a SHA-256 hash with a short prefix for lookup (see ``tokens``).

    The token is ``<prefix>.<secret>``, 43 random URL-safe characters of secret: a fast hash is
    right for such a high-entropy secret (a slow password hash would cost every request).
    """

    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]


class DeviceCredential(HashedToken):
    """A device's access token."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="credentials")

    def __str__(self) -> str:
        return f"{self.prefix}… ({'revoked' if self.revoked_at else 'active'})"


class IngestKey(HashedToken):
    """A tenant's ingestion key for gateways that send readings of many devices."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="ingest_keys")
    name = models.CharField(max_length=100, default="gateway")

    def __str__(self) -> str:
        return f"{self.name} {self.prefix}…"


class DeviceStatusChange(models.Model):
    """When a device's status changed, from what to what (offline detection, maintenance, …)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="status_changes")
    at = models.DateTimeField()
    from_status = models.CharField(max_length=16, choices=DeviceStatus.choices)
    to_status = models.CharField(max_length=16, choices=DeviceStatus.choices)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-at"]), models.Index(fields=["device", "-at"])]
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.device_id}: {self.from_status} → {self.to_status} at {self.at}"


class CommandKind(models.TextChoices):
    RESTART = "restart", "Restart"
    SET_CONFIG = "set_config", "Set configuration"
    SIMULATE = "simulate", "Simulated fault"  # understood by the simulator's devices only


class CommandStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    ACKED = "acked", "Acknowledged"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class Command(models.Model):
    """An instruction for a device: issued by an operator, fetched by the device (RPC), answered
    by it; unanswered commands expire."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="commands")
    kind = models.CharField(max_length=32, choices=CommandKind.choices)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=CommandStatus.choices, default=CommandStatus.PENDING
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["device", "status"]),
            models.Index(fields=["status", "expires_at"]),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} for {self.device_id}: {self.status}"


class SimulatedFleet(models.Model):
    """A tenant's simulated plant: what operators asked for and what the supervisor reports.

    ``manage.py simulator_supervise`` (run by ``make run``) starts and stops the simulator
    process to match ``desired`` and writes ``status`` and ``stats`` back.
    """

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"
        STARTING = "starting", "Starting"
        FAILED = "failed", "Failed"

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="simulation")
    desired = models.CharField(max_length=16, choices=State.choices, default=State.STOPPED)
    status = models.CharField(max_length=16, choices=State.choices, default=State.STOPPED)
    devices = models.PositiveIntegerField(default=24)
    interval_seconds = models.PositiveIntegerField(default=5)
    seed = models.IntegerField(default=42)
    time_scale = models.FloatField(default=360.0)
    transport = models.CharField(
        max_length=8,
        choices=[("http", "HTTP"), ("mqtt", "MQTT")],
        default="http",
        help_text="how the simulated devices report: the HTTP ingest API or the MQTT broker",
    )
    restart_requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    message = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"simulation of {self.tenant}: {self.status}"
