"""Beat → worker → scores stored → devices updated → the page's socket told, on the real
broker, worker, beat and ASGI server; retraining asked for in the API runs on the worker with
its progress on the socket; a cycle that finds the previous one still running skips."""

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from redis import Redis

from analytics import scoring, tasks, training
from analytics.models import ModelVersion, ScoringCycle, TrainingRun
from devices.models import Device
from iotplatform import live
from tests import factories, servers, sockets
from tests.telemetry.known_readings import write

from . import plant


def _until(
    ws: Any, event: str, timeout: float, match: Callable[[dict[str, Any]], bool] | None = None
) -> dict[str, Any]:
    """The first ``event`` (that ``match`` accepts) the page receives within ``timeout``; every
    event of each frame is looked at (a burst, a whole training run, comes as one frame)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            break
        for item in frame.get("events", []):
            if item["type"] == event and (match is None or match(item["data"])):
                return item["data"]
    raise AssertionError(f"no {event} event within {timeout} s")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_beat_scores_the_fleet_and_the_page_hears_it(tenant) -> None:
    viewer = factories.make_user(tenant)
    devices = plant.pumps(tenant, 3)
    now = timezone.now()
    minute = scoring.scoring_minute(now)
    write(plant.normal(devices, start=minute - timedelta(days=1), minutes=1440))
    assert training.anomaly_train(tenant=tenant, device_type=devices[0].type, end=minute).activated
    # The cycle scores the last complete minute when it runs, which may be a minute or two
    # after this one on a busy machine: the plant reports through the next few minutes.
    minutes = [minute + timedelta(minutes=i) for i in range(4)]
    for at in minutes:
        write(plant.reading(devices[0], at, temperature=95.0, vibration=7.0))
        for d in devices[1:]:
            write(plant.reading(d, at))
    plant.seen(devices, minutes[-1] + timedelta(seconds=59))
    with (
        servers.asgi_server() as url,
        sockets.open_socket(url, sockets.session_cookie(viewer)) as ws,
        servers.celery_worker(),
        servers.celery_beat(ANALYTICS_APPLY_SECONDS="2"),
    ):
        scores = _until(ws, live.Event.DEVICE_SCORES, timeout=120)
        assert scores["minute"] in {m.isoformat() for m in minutes}
        assert scores["devices"][str(devices[0].id)]["flagged"] is True
        health = Device.objects.get(pk=devices[0].id).health
        assert health is not None and health <= 50.0
        assert Device.objects.get(pk=devices[0].id).status == "anomaly"
        scored = datetime.fromisoformat(scores["minute"])
        assert ScoringCycle.objects.filter(tenant=tenant, minute=scored).count() == 1

        # Retraining through the API: the worker runs it; progress reaches the page.
        admin = factories.make_user(tenant, "admin")
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_authenticate(admin)
        run = client.post(
            "/api/v1/analytics/training", {"type": "pump", "kinds": ["anomaly"]}, format="json"
        ).json()
        done = _until(
            ws,
            live.Event.TRAINING,
            timeout=90,
            match=lambda d: d["run"] == run["id"] and d["status"] == "done",
        )
        assert done["progress"] == 1.0
        assert done["results"]["anomaly"]["version"] is not None
        assert TrainingRun.objects.get(pk=run["id"]).status == "done"
        assert ModelVersion.objects.filter(tenant=tenant, kind="anomaly").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_cycle_skips_while_the_previous_one_runs(tenant) -> None:
    redis = Redis.from_url(settings.REDIS_URL)
    redis.set(settings.ANALYTICS_APPLY_LOCK_KEY, "someone-else", ex=30)
    try:
        assert tasks.scores_apply() == {"skipped": True}
        assert redis.get(settings.ANALYTICS_APPLY_LOCK_KEY) == b"someone-else"  # not ours to free
    finally:
        redis.delete(settings.ANALYTICS_APPLY_LOCK_KEY)
    minute = plant.END
    result = tasks.scores_apply(minute.isoformat())
    assert result["tenants"][tenant.slug] == {"devices": 0, "flagged": 0, "skipped": False}
    assert redis.get(settings.ANALYTICS_APPLY_LOCK_KEY) is None  # released
    # Run again for the same minute: the tenant's minute is done already.
    assert tasks.scores_apply(minute.isoformat())["tenants"][tenant.slug]["skipped"] is True


@pytest.mark.django_db(transaction=True)
def test_the_tasks_cap_the_models_native_threads(tenant, monkeypatch, settings) -> None:
    from threadpoolctl import threadpool_info

    def most() -> int:
        return max((pool["num_threads"] for pool in threadpool_info()), default=1)

    seen: list[int] = []

    def record(**kwargs: Any) -> Any:
        seen.append(most())
        return scoring.CycleResult(tenant.id, plant.END, 0, 0, 0, 0, 0.0)

    monkeypatch.setattr(scoring, "scores_apply", record)
    monkeypatch.setattr(training, "training_run_execute", lambda **kwargs: seen.append(most()))
    settings.ANALYTICS_THREADS = 1
    tasks.scores_apply(plant.END.isoformat())
    tasks.training_run_execute(1)
    assert seen == [1, 1]
    settings.ANALYTICS_THREADS = 2
    seen.clear()
    tasks.scores_apply(plant.END.isoformat())
    assert seen == [min(2, most())]  # the pools' own size where they have fewer threads
