"""The fault run, test-sized (``bench/faults.py`` is the full one): devices keep posting over
HTTP while Redis (the Celery broker, the channel layer and the alert evaluator's stream) is
restarted and the Celery worker is killed with SIGKILL. Afterwards the database holds exactly
the readings the platform acknowledged, every hot spell the devices reported raised one alarm,
and every alarm email reached the SMTP sink once.

The real processes, as `make run` starts them: the ASGI server, a Celery worker, beat and the
alert evaluator, on a Redis of the test's own (persisting as the compose stack's does), the test
database and the development SMTP sink. The test plays the supervisor that starts a killed
worker again, as compose's restart policy does."""

import functools
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from alerts.models import Alarm, AlarmActivity, NotificationDelivery
from devices.services import device_create
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading

from .. import factories, servers
from ..alerts.notifying import hot_rule, inbox, people

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

DEVICES = 4
SPELL = 1000  # readings of a hot or a normal spell
BATCH = 100  # readings a request
STEP_MS = 10  # between a device's readings
PAUSE = 0.1  # seconds between rounds (a round: a request from each device)


# Wait, then let the asserts after it say what is wrong.
_until = functools.partial(servers.until, timeout=60.0, interval=0.2, required=False)


class Devices(threading.Thread):
    """Devices posting batches of temperatures, a normal spell then a hot one, over and over;
    a request that fails (no answer, or not 200) is sent again as it was, as a device's
    firmware does, until the platform acknowledges it."""

    def __init__(self, url: str, tokens: list[str]) -> None:
        super().__init__(daemon=True)
        self.url, self.tokens = url, tokens
        self.running = True
        self.acknowledged = 0  # readings
        self.spells = 0  # hot spells acknowledged whole
        self.retries = 0
        self.slowest = 0.0  # seconds, the longest answer

    def run(self) -> None:
        session = requests.Session()
        start_ms = int(time.time() * 1000) - 3_600_000
        sent = 0
        while self.running:
            for token in self.tokens:
                values = [90.0 if (sent + i) // SPELL % 2 else 60.0 for i in range(BATCH)]
                body = [
                    {"ts": start_ms + (sent + i) * STEP_MS, "values": {"temperature": v}}
                    for i, v in enumerate(values)
                ]
                self._post(session, token, json.dumps(body))
            sent += BATCH
            self.acknowledged = sent * len(self.tokens)
            self.spells = (sent - 1 + SPELL) // (2 * SPELL) * len(self.tokens)
            time.sleep(PAUSE)

    def _post(self, session: requests.Session, token: str, body: str) -> None:
        while True:
            began = time.monotonic()
            try:
                response = session.post(
                    f"{self.url}/api/v1/ingest",
                    data=body,
                    headers={"Authorization": f"Device {token}"},
                    timeout=10,
                )
                ok = response.status_code == 200 and response.json()["rejected"] == 0
            except requests.RequestException:
                ok = False
            self.slowest = max(self.slowest, time.monotonic() - began)
            if ok:
                return
            self.retries += 1
            time.sleep(0.2)


def _env(redis: servers.RedisServer, mail_port: int) -> dict[str, str]:
    return {
        "REDIS_URL": redis.url,
        "TEST_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_URL": f"smtp://127.0.0.1:{mail_port}",
        "ALERTS_DELIVERY_LEASE": "3",
        "ALERTS_RULES_REFRESH": "0.5",
    }


def fleet(tenant: Tenant) -> list[str]:
    """The tenant's pumps with a rule raising an alarm on a hot spell; their tokens."""
    pump = factories.make_device_type(tenant)
    tokens = []
    for i in range(DEVICES):
        device, token = device_create(tenant=tenant, device_type=pump, name=f"P{i}")
        tokens.append(token)
    hot_rule(tenant, device)
    return tokens


def _emails_settled(box: Path) -> bool:
    """Every delivery done, and an email in the sink for each one sent. A delivery recorded
    unconfirmed (its worker killed between handing the message over and the server's answer)
    may or may not be in the sink — never twice."""
    open_ = NotificationDelivery.objects.exclude(status__in=["sent", "unconfirmed"]).exists()
    sent = NotificationDelivery.objects.filter(status="sent").count()
    return not open_ and len(inbox(box)) >= sent


def test_a_redis_restart_and_a_killed_worker_lose_no_reading_and_send_each_email_once(
    tenant: Tenant, tmp_path: Path
) -> None:
    who = people(tenant)
    tokens = fleet(tenant)
    box = tmp_path / "mail"
    (tmp_path / "redis").mkdir()
    with servers.redis_server(tmp_path / "redis") as redis, servers.mail_sink(box) as mail:
        env = _env(redis, mail)
        with (
            servers.asgi_server(None, **env) as url,
            servers.celery_beat(**env),
            servers.alerts_evaluator(**env),
        ):
            devices = Devices(url, tokens)
            try:
                with servers.celery_worker(**env) as worker:
                    devices.start()
                    _until(lambda: NotificationDelivery.objects.exists())  # alarms reach it
                    redis.restart(down_seconds=2.0)
                    _until(lambda: devices.spells >= 3 * DEVICES)
                    _until(lambda: NotificationDelivery.objects.filter(status="sent").count() > 2)
                    os.killpg(worker.pid, signal.SIGKILL)  # mid-stream: busy sending
                    worker.wait()
                time.sleep(2.0)  # down a while, as a supervisor takes to notice
                with servers.celery_worker(**env):
                    count = devices.acknowledged
                    _until(lambda: devices.acknowledged >= count + 10 * BATCH * DEVICES)
                    devices.running = False
                    devices.join(30)
                    assert Reading.objects.filter(tenant=tenant).count() == devices.acknowledged
                    _until(lambda: Alarm.objects.count() >= devices.spells, timeout=30)
                    assert Alarm.objects.count() == devices.spells
                    _until(lambda: _emails_settled(box), timeout=90)  # the sweep: every 10 s
                    assert _emails_settled(box)
            finally:
                devices.running = False
    assert devices.slowest < 10  # a dependency restarting answers or refuses, never hangs
    # Each message in the sink once (a storm's alarms go in digests), and every alarm's opening
    # told to each operator and admin of the tenant.
    ids = [m["Message-ID"] for m in inbox(box)]
    assert len(ids) == len(set(ids)) <= NotificationDelivery.objects.count()
    unconfirmed = NotificationDelivery.objects.filter(status="unconfirmed").count()
    assert len(ids) >= NotificationDelivery.objects.count() - unconfirmed
    assert set(NotificationDelivery.objects.filter(status="sent").values_list(
        "provider_id", flat=True)) <= set(ids)  # fmt: skip
    opened = set(AlarmActivity.objects.filter(action="opened").values_list("pk", flat=True))
    assert len(opened) == devices.spells
    for person in (who["admin"], who["operator"]):
        told: set[int] = set()
        for one, many in NotificationDelivery.objects.filter(user=person).values_list(
            "activity_id", "activity_ids"
        ):
            told.update([one] if one else many)
        assert opened <= told, person


def test_with_the_database_away_a_device_is_answered_503_at_once_then_stored_once_back(
    tenant: Tenant,
) -> None:
    from ..netcut import Relay

    device, token = device_create(tenant=tenant, device_type=factories.make_device_type(tenant),
                                  name="P")  # fmt: skip
    relay = Relay(*servers.database_address())
    env = {"DATABASE_URL": servers.database_url(port=relay.port), "INGEST_STORAGE_WAIT": "2"}
    body = json.dumps([{"ts": 1_767_000_000_000 + i, "values": {"temperature": 60.0}}
                       for i in range(10)])  # fmt: skip
    headers = {"Authorization": f"Device {token}"}
    try:
        with servers.asgi_server(None, **env) as url:
            assert requests.post(f"{url}/api/v1/ingest", data=body, headers=headers).ok
            relay.cut()
            answers = []
            for _ in range(3):  # the pool's connections broken, then none to be had
                began = time.monotonic()
                response = requests.post(f"{url}/api/v1/ingest", data=body, headers=headers)
                answers.append((response.status_code, time.monotonic() - began))
            assert all(code == 503 and seconds < 4 for code, seconds in answers), answers
            assert "storage unavailable; nothing was stored, retry" in response.text
            assert response.headers["Retry-After"] == "2"
            relay.restore()
            _until(lambda: requests.post(f"{url}/api/v1/ingest", data=body, headers=headers).ok)
    finally:
        relay.close()
    assert Reading.objects.filter(device=device).count() == 10
