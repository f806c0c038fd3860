"""Celery entry points of the telemetry app: thin wrappers over services."""

from celery import shared_task

from . import services


@shared_task(name="telemetry.retention")
def readings_retention_apply() -> dict[str, int]:
    """Beat, nightly: readings older than each tenant's retention go."""
    return services.readings_retention_apply()
