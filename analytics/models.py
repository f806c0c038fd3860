"""The analytics engine's tables: model versions and their history, training runs, anomaly
events, and the run-to-failure labels RUL models learn from.

Scores themselves (anomaly score, health, RUL and its interval) are *derived series*: rows of the
readings hypertable under reserved metric keys (``analytics.scoring.DERIVED``, keys starting
with ``_``, which no device may send), so charts, rollups, exports and retention treat them like
any reading, and the readings' unique key (device, metric, time) makes a re-run of a minute a
no-op.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from devices.models import Device, DeviceType
from iotplatform.tenancy.models import Tenant


class ModelKind(models.TextChoices):
    ANOMALY = "anomaly", "Anomaly detection"
    RUL = "rul", "Remaining useful life"
    CLUSTER = "cluster", "Behaviour clusters"


class ModelState(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class ModelVersion(models.Model):
    """One trained model of a tenant's device type. At most one is active per (tenant, type,
    kind); a new version becomes active only when its backtest is not worse than the active
    one's on the same held-out data."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="model_versions")
    device_type = models.ForeignKey(
        DeviceType, on_delete=models.CASCADE, related_name="model_versions"
    )
    kind = models.CharField(max_length=16, choices=ModelKind.choices)
    state = models.CharField(
        max_length=16, choices=ModelState.choices, default=ModelState.CANDIDATE
    )
    algorithm = models.CharField(max_length=32, help_text="pca_t2q, iforest, hgb, dbscan, …")
    trained_at = models.DateTimeField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    rows = models.PositiveIntegerField(help_text="training rows (device-minutes)")
    devices = models.PositiveIntegerField(help_text="devices in the training window")
    signals = models.JSONField(default=list, help_text="the metrics the model reads, in order")
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(
        default=dict, blank=True, help_text="backtest figures on the held-out share of the window"
    )
    artefact = models.CharField(max_length=255, help_text="name in the private model storage")
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the artefact's bytes")
    size = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "device_type", "kind"],
                condition=Q(state="active"),
                name="modelversion_one_active",
            )
        ]
        indexes = [models.Index(fields=["tenant", "device_type", "kind", "-trained_at"])]
        ordering = ["-trained_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} v{self.pk} of {self.device_type} ({self.state})"


class ModelVersionChange(models.Model):
    """Every state change of a version: created, activated, kept as candidate, retired."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="changes")
    at = models.DateTimeField()
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16, choices=ModelState.choices)
    reason = models.CharField(max_length=300)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"v{self.version_id}: {self.from_state or '—'} → {self.to_state}"


class TrainingStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class TrainingRun(models.Model):
    """A retrain of one tenant's device type (nightly or asked for), with its progress."""

    Status = TrainingStatus

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="training_runs")
    device_type = models.ForeignKey(
        DeviceType, on_delete=models.CASCADE, related_name="training_runs"
    )
    kinds = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    step = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    results = models.JSONField(default=dict, blank=True, help_text="kind → version and outcome")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One run at a time per device type: asking again while one waits or runs returns it.
            models.UniqueConstraint(
                fields=["tenant", "device_type"],
                condition=Q(status__in=["queued", "running"]),
                name="trainingrun_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"training of {self.device_type}: {self.status} {self.progress:.0%}"


class AnomalyEvent(models.Model):
    """A spell of anomalous behaviour of one device: opened by the first flagged minute,
    extended while flagged, ended when the score falls below the clear level."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="anomaly_events")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="anomaly_events")
    version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detector = models.CharField(max_length=32)
    started_at = models.DateTimeField()
    last_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    minutes = models.PositiveIntegerField(default=1, help_text="flagged minutes")
    peak_score = models.FloatField()
    drivers = models.JSONField(
        default=list, help_text="[{metric, share, value}] at the peak, largest share first"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["device"], condition=Q(ended_at__isnull=True), name="anomalyevent_one_open"
            )
        ]
        indexes = [models.Index(fields=["tenant", "-started_at"])]

    def __str__(self) -> str:
        return f"anomaly of {self.device_id} from {self.started_at.isoformat()}"


class Failure(models.Model):
    """A device's failure and repair: the run-to-failure labels RUL models are trained on
    (imported with a history, e.g. the simulator's ``failures.csv``, or recorded by people)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="failures")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="failures")
    failed_at = models.DateTimeField()
    repaired_at = models.DateTimeField(null=True, blank=True)
    mode = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["failed_at"]
        constraints = [
            models.UniqueConstraint(fields=["device", "failed_at"], name="failure_unique_time")
        ]

    def __str__(self) -> str:
        return f"{self.device_id} failed at {self.failed_at.isoformat()}"

    def clean(self) -> None:
        if self.device_id and self.tenant_id and self.device.tenant_id != self.tenant_id:
            raise ValidationError({"device": "The device belongs to another tenant."})
        if self.repaired_at and self.failed_at and self.repaired_at < self.failed_at:
            raise ValidationError({"repaired_at": "A repair cannot come before the failure."})


class ScoringCycle(models.Model):
    """One minute scored for one tenant: written in the transaction that stores the minute's
    scores, so a re-run of the same minute finds it and writes nothing twice."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    minute = models.DateTimeField()
    devices = models.PositiveIntegerField()
    flagged = models.PositiveIntegerField()
    seconds = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "minute"], name="scoringcycle_unique")
        ]
        indexes = [models.Index(fields=["minute"])]

    def __str__(self) -> str:
        return f"{self.tenant_id} scored {self.minute.isoformat()}"


class DeviceBaseline(models.Model):
    """A device's own recent behaviour, for the residual detector (``ml.residuals``): each
    metric's least-squares fit on the device's other metrics and the time of day over its
    previous day, refitted by the apply cycle every half hour. Plain numbers (no pickle), with
    the signals in their order and the standardisation they were fitted with."""

    device = models.OneToOneField(
        Device, primary_key=True, on_delete=models.CASCADE, related_name="baseline"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    fitted_at = models.DateTimeField(help_text="the last minute the fit saw")
    rows = models.PositiveIntegerField(help_text="minutes with weight in the fit")
    signals = models.JSONField(help_text="the metrics fitted, in order")
    fit = models.JSONField(
        help_text="centre and scale, coefficients and residual standard deviation per metric"
    )

    def __str__(self) -> str:
        return f"baseline of {self.device_id} to {self.fitted_at.isoformat()}"


class DeviceLife(models.Model):
    """A device's current life, for its RUL in the apply cycle (``analytics.lifetimes``): when
    it began (the last repair, or the first reading), the RUL version whose new-device fit the
    indicators are measured against, and each metric's median residual (and, for a version
    with gain indicators, each one's gain) over the life's first day (the indicators' zero;
    null until the life has a day of readings). Plain numbers."""

    device = models.OneToOneField(
        Device, primary_key=True, on_delete=models.CASCADE, related_name="life"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField(help_text="the last repair, or the first reading")
    version = models.ForeignKey(
        ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    signals = models.JSONField(
        help_text="what the baseline holds, in order: the metrics, then their gains (metric%)"
    )
    baseline = models.JSONField(
        null=True, blank=True, help_text="the first day's median residual per signal"
    )
    updated_at = models.DateTimeField(help_text="the minute that last renewed the row")

    def __str__(self) -> str:
        return f"life of {self.device_id} from {self.started_at.isoformat()}"
