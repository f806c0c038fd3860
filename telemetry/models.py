"""The readings table: one narrow row per (time, device, metric).

It is a TimescaleDB hypertable when the extension is available (see the migration), a plain
table on PostgreSQL without it. Unique on (device, metric, time), so a retried upload stores
nothing twice. The tenant and device columns carry no foreign-key constraints: ingestion writes
by COPY at a hundred thousand rows a second and the ingestion service only writes rows of the
device that authenticated, so a per-row FK check would buy nothing but halve the rate. Deleting a
device deletes its readings in the service that does it.
"""

from django.db import models

from devices.models import Device
from iotplatform.tenancy.models import Tenant


class Reading(models.Model):
    pk = models.CompositePrimaryKey("device_id", "metric", "time")
    time = models.DateTimeField()
    tenant = models.ForeignKey(
        Tenant, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    device = models.ForeignKey(
        Device, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    metric = models.CharField(max_length=64)
    value = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["tenant", "-time"], name="reading_tenant_time")]

    def __str__(self) -> str:
        return f"{self.device_id} {self.metric}={self.value} @ {self.time.isoformat()}"


class LatestReading(models.Model):
    """The newest value of every (device, metric): what dashboards and the latest-values API
    read, upserted in the same transaction as the readings themselves."""

    pk = models.CompositePrimaryKey("device_id", "metric")
    device = models.ForeignKey(
        Device, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    metric = models.CharField(max_length=64)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    time = models.DateTimeField()
    value = models.FloatField()

    class Meta:
        db_table = "telemetry_latest"
        indexes = [models.Index(fields=["tenant", "device"], name="latest_tenant_device")]

    def __str__(self) -> str:
        return f"{self.device_id} {self.metric}={self.value} @ {self.time.isoformat()}"


class _Rollup(models.Model):
    """Per-(device, metric) aggregates of a fixed width, kept exact by the ingest writer: each
    stored reading adds to its bucket in the same transaction (a resend adds nothing).

    Long ranges are answered from here instead of scanning millions of raw rows.
    """

    device = models.ForeignKey(
        Device, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    metric = models.CharField(max_length=64)
    bucket = models.DateTimeField()
    tenant = models.ForeignKey(
        Tenant, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    count = models.BigIntegerField()
    sum = models.FloatField()
    min = models.FloatField()
    max = models.FloatField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.device_id} {self.metric} {self.bucket.isoformat()} n={self.count}"


class RollupMinute(_Rollup):
    pk = models.CompositePrimaryKey("device_id", "metric", "bucket")

    class Meta:
        db_table = "telemetry_rollup_1m"
        indexes = [
            models.Index(fields=["tenant", "metric", "bucket"], name="rollup_1m_tenant_metric")
        ]


class RollupHour(_Rollup):
    pk = models.CompositePrimaryKey("device_id", "metric", "bucket")

    class Meta:
        db_table = "telemetry_rollup_1h"
        indexes = [
            models.Index(fields=["tenant", "metric", "bucket"], name="rollup_1h_tenant_metric")
        ]
