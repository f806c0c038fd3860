"""Alert rules and alarms.

An ``AlertRule`` says when a device is in trouble: a condition (``ConditionKind``) on a device
type's devices or on one device, with a severity, a clear level (hysteresis) and a cooldown.
An ``Alarm`` is one (device, rule) being in trouble: opened when the condition holds, repeated
(its occurrence count, its last value and time) while it keeps holding, acknowledged by a person,
cleared when the condition clears past the clear level (or by a person), then closed. The
database keeps exactly one active alarm (open or acknowledged) per (device, rule), however many
processes raise it at once. Every step is an ``AlarmActivity`` row: who did what, when, and the
comments.
"""

from typing import Any

from django.conf import settings
from django.db import models

from devices.models import Device, DeviceType
from iotplatform.tenancy.models import Tenant


class Severity(models.TextChoices):
    """From the most to the least urgent (``RANK``: 0 is the most)."""

    CRITICAL = "critical", "Critical"
    MAJOR = "major", "Major"
    MINOR = "minor", "Minor"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


RANK = {s.value: i for i, s in enumerate(Severity)}


class ConditionKind(models.TextChoices):
    THRESHOLD = "threshold", "Metric past a level for a duration"
    RATE = "rate", "Metric rising or dropping by more than an amount within a window"
    ZSCORE = "zscore", "Metric's rolling z-score past a level"
    ANOMALY = "anomaly", "The analytics engine's anomaly status"
    OFFLINE = "offline", "Device offline"
    RUL_BELOW = "rul_below", "Remaining useful life below a number of hours"
    HEALTH_BELOW = "health_below", "Health below a score"
    FORECAST_CROSSING = "forecast_crossing", "A metric forecast to cross its limit within hours"


class Direction(models.TextChoices):
    ABOVE = "above", "above"
    BELOW = "below", "below"


class AlertRule(models.Model):
    """When a device is in trouble. On a device type (all its devices) or on one device.

    ``metric`` for the kinds about a metric (threshold, rate, zscore, forecast crossing);
    ``direction`` and ``threshold``: the level it must pass (for rate: the change, for rul_below
    hours, for health_below the score); ``clear_threshold``: where the alarm clears (hysteresis:
    on the safe side of ``threshold``; empty: at the threshold itself); ``duration_seconds``: how
    long the condition must hold before an alarm opens; ``window_seconds``: the rate's window;
    ``cooldown_seconds``: after an alarm clears, a new trigger within this time reopens it rather
    than raising another.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=120)
    device_type = models.ForeignKey(
        DeviceType, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    kind = models.CharField(max_length=24, choices=ConditionKind.choices)
    metric = models.CharField(max_length=100, blank=True)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.ABOVE)
    threshold = models.FloatField(null=True, blank=True)
    clear_threshold = models.FloatField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(default=0)
    window_seconds = models.PositiveIntegerField(default=0)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    cooldown_seconds = models.PositiveIntegerField(default=300)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(device_type__isnull=False, device__isnull=True)
                | models.Q(device_type__isnull=True, device__isnull=False),
                name="alertrule_type_or_device",
            ),
            models.UniqueConstraint(fields=["tenant", "name"], name="alertrule_unique_name"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AlarmStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    CLEARED = "cleared", "Cleared"
    CLOSED = "closed", "Closed"


ACTIVE = (AlarmStatus.OPEN, AlarmStatus.ACKNOWLEDGED)


class Alarm(models.Model):
    """One (device, rule) in trouble, from its opening to its closing."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="alarms")
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alarms")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="alarms")
    severity = models.CharField(max_length=16, choices=Severity.choices)
    status = models.CharField(max_length=16, choices=AlarmStatus.choices, default=AlarmStatus.OPEN)
    message = models.CharField(max_length=300, blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    first_value = models.FloatField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            # Exactly one active alarm per (device, rule): the upsert that raises alarms
            # (alarms.alarm_raise) conflicts on this index.
            models.UniqueConstraint(
                fields=["device", "rule"],
                condition=models.Q(status__in=["open", "acknowledged"]),
                name="alarm_one_active_per_device_rule",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "-opened_at"]),
            models.Index(fields=["device", "rule", "-cleared_at"]),
        ]
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.device_id}: {self.status}"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


class AlarmAction(models.TextChoices):
    OPENED = "opened", "Opened"
    REOPENED = "reopened", "Reopened"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    CLEARED = "cleared", "Cleared"
    CLOSED = "closed", "Closed"
    COMMENTED = "commented", "Commented"


class AlarmActivity(models.Model):
    """A step of an alarm's life: who (none: the platform) did what, when, and a comment."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    alarm = models.ForeignKey(Alarm, on_delete=models.CASCADE, related_name="activity")
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=16, choices=AlarmAction.choices)
    text = models.TextField(blank=True)
    value = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} at {self.at:%Y-%m-%d %H:%M:%S}"

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "action": self.action, "text": self.text, "value": self.value}
