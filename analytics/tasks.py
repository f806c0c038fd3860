"""Celery entry points of the analytics engine: thin wrappers over its services.

``analytics.apply`` runs every minute from beat and never overlaps itself: it takes a Redis lock
(``SET NX`` with an expiry shorter than the beat interval, released by its owner only), so a
slow cycle makes the next one skip instead of piling up, and a crashed worker's lock expires on
its own. It runs on the Celery worker, never in the ingest path.
"""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from redis import Redis
from threadpoolctl import threadpool_limits

from iotplatform import redisplace
from iotplatform.tenancy.models import Tenant

from . import scoring, training

logger = logging.getLogger(__name__)

APPLY_LOCK_SECONDS = 55
# Releases the lock only if it still holds this run's token (it may have expired and been taken).
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


def _redis() -> Redis:
    return redisplace.client(socket_timeout=5)


@contextmanager
def model_threads() -> Iterator[None]:
    """Native thread pools capped at ANALYTICS_THREADS for the models' work (see settings)."""
    with threadpool_limits(settings.ANALYTICS_THREADS):
        yield


@shared_task(name="analytics.apply", ignore_result=True)
def scores_apply(minute: str | None = None) -> dict[str, Any]:
    """Beat, every minute: score the last complete minute of every tenant (or ``minute``,
    ISO-8601). Skips when the previous cycle still runs."""
    redis = _redis()
    token = uuid.uuid4().hex
    if not redis.set(settings.ANALYTICS_APPLY_LOCK_KEY, token, nx=True, ex=APPLY_LOCK_SECONDS):
        logger.warning("analytics.apply skipped: the previous cycle still runs")
        return {"skipped": True}
    try:
        when = (
            scoring.scoring_minute(timezone.now())
            if minute is None
            else datetime.fromisoformat(minute)
        )
        summary: dict[str, Any] = {"minute": when.isoformat(), "tenants": {}}
        for tenant in Tenant.objects.order_by("id"):
            try:
                with model_threads():
                    result = scoring.scores_apply(tenant=tenant, minute=when)
            except Exception:  # one tenant's trouble never stops the others' scoring
                logger.exception("scoring %s at %s failed", tenant.slug, when)
                continue
            summary["tenants"][tenant.slug] = {
                "devices": result.devices,
                "flagged": result.flagged,
                "skipped": result.skipped,
            }
        return summary
    finally:
        redis.eval(RELEASE, 1, settings.ANALYTICS_APPLY_LOCK_KEY, token)


@shared_task(name="analytics.train", ignore_result=True)
def training_run_execute(run_id: int) -> str | None:
    """Run one queued training run (asked for in the API, or queued by the nightly retrain)."""
    with model_threads():
        run = training.training_run_execute(run_id=run_id)
    return None if run is None else run.status


@shared_task(name="analytics.retrain_nightly", ignore_result=True)
def training_runs_nightly() -> int:
    """Beat, nightly: a training run for every tenant's device types, each its own task."""
    runs = training.training_runs_nightly()
    for run in runs:
        if run.status == "queued":
            training_run_execute.delay(run.pk)
    return len(runs)
