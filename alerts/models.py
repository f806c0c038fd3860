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
from django.core.files.storage import Storage, storages
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
        # Storm control counts a tenant's openings of the last minute (alerts/notify.py).
        indexes = [models.Index(fields=["tenant", "action", "at"])]

    def __str__(self) -> str:
        return f"{self.action} at {self.at:%Y-%m-%d %H:%M:%S}"

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "action": self.action, "text": self.text, "value": self.value}


# --- Notifications ---------------------------------------------------------------------------


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    WEBHOOK = "webhook", "Webhook"


class WebhookFormat(models.TextChoices):
    JSON = "json", "JSON (the platform's own, signed)"
    SLACK = "slack", "Slack incoming webhook"
    TEAMS = "teams", "Microsoft Teams incoming webhook"


class NotificationProfile(models.Model):
    """How one person of a tenant is told about alarms: the channels they want, the least urgent
    severity worth telling them, and quiet hours (in the tenant's time zone) when only critical
    alarms reach them (``quiet_critical``) or none do."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_profiles"
    )
    email = models.BooleanField(default=True)
    sms = models.BooleanField(default=False)
    phone = models.CharField(max_length=16, blank=True, help_text="E.164, e.g. +4915112345678")
    webhook = models.BooleanField(default=False)
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.CharField(max_length=128, blank=True)
    webhook_format = models.CharField(
        max_length=8, choices=WebhookFormat.choices, default=WebhookFormat.JSON
    )
    min_severity = models.CharField(
        max_length=16, choices=Severity.choices, default=Severity.WARNING
    )
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    quiet_critical = models.BooleanField(
        default=True, help_text="critical alarms still come through during quiet hours"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="notifyprofile_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant_id}"


class Audience(models.TextChoices):
    LISTED = "listed", "Only the people listed"
    ADMINS = "admin", "Admins and the people listed"
    OPERATORS = "operator", "Operators, admins and the people listed"
    EVERYONE = "viewer", "Everyone in the tenant"


class SeverityRecipients(models.Model):
    """Who of a tenant is told about its alarms of one severity: everyone from a role up
    (``audience``) and the people listed. Each person's own profile then picks the channels."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    severity = models.CharField(max_length=16, choices=Severity.choices)
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.LISTED)
    people = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "severity"], name="recipients_unique")
        ]
        ordering = ["tenant", "severity"]
        verbose_name_plural = "severity recipients"

    def __str__(self) -> str:
        return f"{self.severity} alarms"


class DeliveryStatus(models.TextChoices):
    COLLECTING = "collecting", "Collecting (a storm digest still gathering alarms)"
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    COMMITTED = "committed", "Handed over (awaiting the server's answer)"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Failed, will retry"
    FAILED = "failed", "Failed"
    UNCONFIRMED = "unconfirmed", "Unconfirmed (handed over, the sender stopped; never resent)"
    SUPPRESSED = "suppressed", "Not sent (quiet hours)"


class NotificationDelivery(models.Model):
    """One message to one person on one channel: about one alarm step (``activity``) or, in a
    storm, a digest of several alarm steps (``activity_ids``). ``key`` makes it unique, so
    however often a step is planned or a task runs, there is one row and at most one message."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=120, unique=True)
    activity = models.ForeignKey(
        AlarmActivity, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    activity_ids = models.JSONField(default=list, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    address = models.CharField(max_length=500)
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices)
    reason = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            # One storm digest gathering alarms per person and channel at a time.
            models.UniqueConstraint(
                fields=["tenant", "user", "channel"],
                condition=models.Q(status="collecting"),
                name="delivery_one_collecting_digest",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["tenant", "-created_at"]),
        ]
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "notification deliveries"

    def __str__(self) -> str:
        return f"{self.channel} to {self.address}: {self.status}"

    @property
    def digest(self) -> bool:
        return self.activity_id is None


# --- Scheduled reports -----------------------------------------------------------------------


class Frequency(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


class DeviceScope(models.TextChoices):
    ALL = "all", "All devices"
    TYPE = "type", "The devices of a type"
    TAG = "tag", "The devices with a tag"
    LIST = "list", "The devices listed"


class ReportSection(models.TextChoices):
    SUMMARY = "summary", "Per device and metric: count, min, mean, max, p95, last, minutes out"
    ALARMS = "alarms", "Alarms of the period"
    ANOMALIES = "anomalies", "Anomaly events, health and RUL at the end of the period"
    READINGS = "readings", "The readings, bucketed"


class ReportSchedule(models.Model):
    """A report emailed on a schedule: every day, every week on a weekday or every month on a
    day, at a local time of the tenant's time zone; over the period that ended at the tenant's
    last midnight (the day, the seven days, the calendar month before); for all devices, a
    type's, a tag's or a list; for some metrics (none: all); to members and outside addresses."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="report_schedules")
    name = models.CharField(max_length=120)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.DAILY)
    weekday = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="weekly: 0 Monday … 6 Sunday"
    )
    day_of_month = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="monthly: 1 to 28"
    )
    at = models.TimeField(help_text="local time in the tenant's time zone")
    scope = models.CharField(max_length=8, choices=DeviceScope.choices, default=DeviceScope.ALL)
    device_type = models.ForeignKey(
        DeviceType, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    tag = models.CharField(max_length=64, blank=True)
    devices = models.ManyToManyField(Device, blank=True, related_name="+")
    metrics = models.JSONField(default=list, blank=True)
    sections = models.JSONField(default=list, blank=True)
    bucket = models.CharField(
        max_length=4,
        blank=True,
        choices=[("1m", "1 minute"), ("15m", "15 minutes"), ("1h", "1 hour")],
        help_text="the readings section's bucket",
    )
    people = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    emails = models.JSONField(default=list, blank=True, help_text="outside addresses")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="reportschedule_unique_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def report_storage() -> Storage:
    """Where produced reports are kept (``STORAGES["reports"]``: private, never served)."""
    return storages["reports"]


class ReportRun(models.Model):
    """One report produced: a schedule's period, its files and how its email went. Unique per
    schedule and period, so a beat that fires twice makes one; sent exactly once as deliveries
    are (``status``, ``attempts``, ``lease_until``, ``reason``: ``alerts/report_runs.py``)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    schedule = models.ForeignKey(
        ReportSchedule, null=True, on_delete=models.SET_NULL, related_name="runs"
    )
    name = models.CharField(max_length=120)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    manual = models.BooleanField(default=False, help_text="sent now by a person, not by beat")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipients = models.JSONField(default=list)
    files = models.JSONField(default=list, help_text="[{name, rows, bytes}] in the archive")
    archive = models.FileField(
        storage=report_storage, max_length=200, blank=True, help_text="the files, zipped"
    )
    archive_bytes = models.BigIntegerField(null=True, blank=True, help_text="the zip's size")
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    reason = models.CharField(max_length=500, blank=True)
    due_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One scheduled run per schedule and period; "send now" makes runs of its own.
            models.UniqueConstraint(
                fields=["schedule", "period_start"],
                condition=models.Q(manual=False),
                name="reportrun_one_per_period",
            )
        ]
        ordering = ["-period_start", "-id"]

    def __str__(self) -> str:
        return f"{self.name} {self.period_start:%Y-%m-%d}"
