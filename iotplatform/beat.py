"""The one registry of periodic tasks.

Every entry names a task by its registered name and sets ``expire_seconds`` (the option
django-celery-beat's DatabaseScheduler turns into each message's ``expires``) so a backlog built
up while workers were down is dropped instead of replayed in a burst: the next run comes soon.
Later capabilities (offline detection, model application, retention, reports) add theirs here.
"""

from typing import Any

from celery.schedules import crontab
from django.conf import settings

HEARTBEAT_SECONDS = 15.0

OFFLINE_SWEEP_SECONDS = 5.0

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "telemetry-retention": {
        "task": "telemetry.retention",
        "schedule": crontab(hour=3, minute=15),
        "options": {"expire_seconds": 6 * 3600},
    },
    "devices-commands-expire": {
        "task": "devices.commands_expire",
        "schedule": 10.0,
        "options": {"expire_seconds": 10.0},
    },
    "devices-offline-sweep": {
        "task": "devices.offline_sweep",
        "schedule": OFFLINE_SWEEP_SECONDS,
        "options": {"expire_seconds": OFFLINE_SWEEP_SECONDS},
    },
    "analytics-apply": {
        "task": "analytics.apply",
        # Every minute on the minute (ANALYTICS_APPLY_SECONDS sets an interval instead: tests).
        "schedule": settings.ANALYTICS_APPLY_SECONDS or crontab(),
        "options": {"expire_seconds": 50.0},
    },
    "analytics-retrain-nightly": {
        "task": "analytics.retrain_nightly",
        "schedule": crontab(hour=2, minute=30),
        "options": {"expire_seconds": 6 * 3600},
    },
    "alerts-evaluate-states": {
        "task": "alerts.evaluate_states",
        "schedule": 10.0,
        "options": {"expire_seconds": 10.0},
    },
    "alerts-deliveries-sweep": {
        "task": "alerts.deliveries_sweep",
        "schedule": 10.0,
        "options": {"expire_seconds": 10.0},
    },
    "alerts-reports-sweep": {
        "task": "alerts.reports_sweep",
        "schedule": 30.0,
        "options": {"expire_seconds": 30.0},
    },
    "platform-heartbeat": {
        "task": "iotplatform.heartbeat",
        "schedule": HEARTBEAT_SECONDS,
        "options": {"expire_seconds": HEARTBEAT_SECONDS},
    },
}
