"""Celery on the real broker: a worker process, beat's registry, and beat → worker end to end."""

import time
from typing import Any

import pytest
import requests
from django.conf import settings

from iotplatform import health
from iotplatform.beat import BEAT_SCHEDULE
from iotplatform.celery import app
from iotplatform.tasks import healthcheck

from .. import factories, servers


def test_every_beat_entry_names_a_registered_task_and_expires() -> None:
    app.loader.import_default_modules()
    assert BEAT_SCHEDULE, "the registry is empty"
    assert app.conf.beat_schedule == BEAT_SCHEDULE
    for name, entry in BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"{name}: task {entry['task']} is not registered"
        assert entry["options"]["expire_seconds"] > 0, f"{name} has no expiry"


@pytest.mark.django_db(transaction=True)  # the scheduler closes and reopens connections
def test_database_scheduler_loads_the_registry() -> None:
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    scheduler = DatabaseScheduler(app=app, lazy=False)
    stored = {t.name: t for t in PeriodicTask.objects.all()}
    for name, entry in BEAT_SCHEDULE.items():
        assert stored[name].task == entry["task"]
        assert stored[name].expire_seconds == entry["options"]["expire_seconds"]
        assert scheduler.schedule[name].options["expires"] == entry["options"]["expire_seconds"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_task_round_trip_through_a_real_worker() -> None:
    factories.make_tenant()
    factories.make_tenant()
    with servers.celery_worker():
        result = healthcheck.delay().get(timeout=60)
    # The worker answered from the same database the test wrote to.
    assert result["database"] == {
        "ok": True,
        "timescaledb": result["database"]["timescaledb"],
        "tenants": 2,
    }
    assert result["redis"] == {"ok": True}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_beat_drives_the_worker_and_health_reports_it() -> None:
    redis = health._redis()
    redis.delete(settings.BEAT_HEARTBEAT_KEY)
    with servers.asgi_server() as url:
        before = requests.get(f"{url}/healthz", timeout=5).json()
        assert before["beat"] == {"ok": False, "last_heartbeat_seconds_ago": None}
        with servers.celery_worker(), servers.celery_beat():
            deadline = time.monotonic() + 60
            body: dict[str, Any] = {}
            while time.monotonic() < deadline:
                body = requests.get(f"{url}/healthz", timeout=5).json()
                if body["beat"]["ok"]:
                    break
                time.sleep(0.5)
        assert body["beat"]["ok"], body
        assert body["database"]["ok"] and body["redis"]["ok"]
