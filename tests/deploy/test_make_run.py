"""`make run` from a clean copy of the project comes up, serves the login page, lets the demo
admin in, keeps the console to the banner and warnings (the full logs in files the banner names),
and stops cleanly on Ctrl-C (SIGINT to its process group, as a terminal sends it)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from .. import servers

pytestmark = pytest.mark.slow


def project_files() -> list[str]:
    """What a clone would hold: tracked files plus new, not ignored ones (the working tree)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=servers.ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [f for f in out.split("\0") if f and (servers.ROOT / f).exists()]


@pytest.fixture
def clean_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "iotplatform"
    for name in project_files():
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(servers.ROOT / name, target)
    assert not (copy / ".env").exists() and not (copy / ".venv").exists()
    return copy


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A database of its own on the test server, so the demo data lands nowhere else."""
    name = f"iot_smoke_{uuid.uuid4().hex[:8]}"
    url = servers.database_url(name)
    admin_url = servers.database_url("postgres").replace("postgres://", "postgresql://", 1)
    yield url
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _mqtt_publish(port: int, token: str, values: dict[str, float]) -> None:
    """Publish as a ThingsBoard device does, retrying the CONNECT until the broker knows the
    token (the bridge writes its credentials file within seconds of the token's issue)."""
    import threading

    import paho.mqtt.client as mqtt

    deadline = time.monotonic() + 30
    while True:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        client.username_pw_set(token)
        answered, accepted = threading.Event(), list[bool]()

        def on_connect(
            _c: Any, _u: Any, _f: Any, reason: Any, _p: Any, *,
            answered: threading.Event = answered, accepted: list[bool] = accepted,
        ) -> None:  # fmt: skip
            accepted.append(not reason.is_failure)
            answered.set()

        client.on_connect = on_connect
        client.connect("127.0.0.1", port, keepalive=10)
        client.loop_start()
        if answered.wait(10) and accepted[0]:
            client.publish("v1/devices/me/telemetry", json.dumps(values), qos=1).wait_for_publish(5)
            client.disconnect()
            client.loop_stop()
            return
        client.loop_stop()
        assert time.monotonic() < deadline, "the broker never let the device in"
        time.sleep(1)


def test_make_run_comes_up_and_stops_cleanly(clean_copy: Path, scratch_database: str) -> None:
    port = servers.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    # The copy reuses this venv (`make install` is then a quick no-op check) and its own database.
    env.update(
        VENV=str(Path(sys.executable).parent.parent),
        PORT=str(port),
        DATABASE_URL=scratch_database,
        REDIS_URL=servers.settings.REDIS_URL,
        SIM_HISTORY_HOURS="3",
        MQTT_PORT=str(servers.free_port()),
        RUN_LOG_DIR="run-logs",
        MAIL_SINK_PORT=str(servers.free_port()),
        SMS_GATEWAY_PORT=str(servers.free_port()),
    )
    for name in ("EMAIL_URL", "SMS_BACKEND"):
        env.pop(name, None)
    log_path = servers.ARTIFACTS / "make-run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w+b") as log:
        proc = subprocess.Popen(
            ["make", "run"],
            cwd=clean_copy,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 240
            text = ""
            while time.monotonic() < deadline and "IoT Platform is up at" not in text:
                assert proc.poll() is None, log_path.read_text()
                time.sleep(0.5)
                text = log_path.read_text(errors="replace")
            assert f"IoT Platform is up at http://127.0.0.1:{port}/" in text, text
            password = re.search(r"password for all: (\S+)\)", text)
            assert password and "acme-operator" in text and "acme-viewer" in text

            base = f"http://127.0.0.1:{port}"
            session = requests.Session()
            login = session.get(f"{base}/accounts/login/", timeout=10)
            assert login.status_code == 200 and "Sign in" in login.text
            home = session.post(
                f"{base}/accounts/login/",
                data={
                    "username": "acme-admin",
                    "password": password.group(1),
                    "csrfmiddlewaretoken": session.cookies["csrftoken"],
                },
                headers={"Referer": f"{base}/accounts/login/"},
                timeout=10,
            )
            assert home.status_code == 200 and "Acme Plant" in home.text
            assert (clean_copy / ".env").exists()
            # The fleet has its history (hourly buckets of the last 3 hours) …
            start = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
            fleet = session.get(
                f"{base}/api/v1/telemetry/fleet",
                params={"metric": "temperature", "bucket": "1h", "start": start},
                timeout=10,
            ).json()["series"]["temperature"]
            assert len(fleet["t"]) >= 3 and min(fleet["devices"]) >= 10, fleet
            # … and the live simulator provisions the same 24 devices (by serial) and reports.
            deadline = time.monotonic() + 60
            devices: list[dict[str, object]] = []
            while time.monotonic() < deadline:
                devices = session.get(f"{base}/api/v1/devices", timeout=10).json()["results"]
                # a device in one of its seeded outages (or down for repair) may be silent
                # now: nearly all report
                if len(devices) == 24 and sum(d["status"] != "offline" for d in devices) >= 21:
                    break
                time.sleep(1)
            assert len(devices) == 24, devices
            assert sum(d["status"] != "offline" for d in devices) >= 21, devices
            # A device of the fleet publishes over MQTT with its token (ThingsBoard's way): the
            # broker lets it in once the bridge has its credential, the bridge stores it.
            serial, token = next(iter(json.loads(
                (clean_copy / ".simulator" / "acme" / "tokens.json").read_text()
            ).items()))  # fmt: skip
            device = next(d for d in devices if d["serial"] == serial)
            _mqtt_publish(int(env["MQTT_PORT"]), token, {"mqtt_probe": 42.5})
            deadline = time.monotonic() + 30
            latest: dict[str, Any] = {}
            while time.monotonic() < deadline and "mqtt_probe" not in latest:
                time.sleep(0.5)
                latest = (
                    session.get(f"{base}/api/v1/telemetry/latest", timeout=10)
                    .json()["devices"]
                    .get(str(device["id"]), {})
                )
            assert latest["mqtt_probe"]["value"] == 42.5, latest
            # The console keeps the banner in sight: every process logs in full to its file
            # under RUN_LOG_DIR, which the banner names, and only warnings reach the console.
            assert (
                "Logs: run-logs/ (web.log, worker.log, beat.log, alerts.log, simulator.log, "
                "broker.log, mqtt.log)" in text
            )
            logs = clean_copy / "run-logs"
            assert "Uvicorn running" in (logs / "web.log").read_text()
            assert "ready." in (logs / "worker.log").read_text()
            assert "beat: Starting" in (logs / "beat.log").read_text()
            assert "alert evaluator" in (logs / "alerts.log").read_text()
            assert "simulated fleet of acme" in (logs / "simulator.log").read_text()
            assert "keeping messages in run-logs/mail/" in (logs / "mail.log").read_text()
            assert "keeping messages in run-logs/sms/" in (logs / "sms.log").read_text()
            console = log_path.read_text(errors="replace")
            assert "beat: Starting" not in console and "Uvicorn running" not in console
            assert "INFO" not in console
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
    # make itself reports the interrupt (as it does on a terminal); run.sh must have stopped
    # web, worker and beat before that.
    assert code in (0, -signal.SIGINT, 2), log_path.read_text()
    assert "[run] stopped" in log_path.read_text()
    # Nothing left behind: no process of the group survives.
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
