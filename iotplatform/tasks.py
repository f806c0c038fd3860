"""Platform-level Celery tasks: liveness of beat and the workers."""

from typing import Any

from celery import shared_task

from iotplatform import health


@shared_task(name="iotplatform.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Run by beat: records that beat and at least one worker are alive."""
    health.heartbeat_record()


@shared_task(name="iotplatform.healthcheck")
def healthcheck() -> dict[str, Any]:
    """Answers from inside a worker what it can reach, for `/healthz` and the tests."""
    return health.services_check(include_beat=False, include_counts=True)
