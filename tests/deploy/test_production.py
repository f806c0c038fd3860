"""The production settings for real: `check --deploy` is clean with the variables the README
documents, and the web server, a Celery worker, beat, the alert evaluator and the MQTT bridge run
with them against the real services, each passing its own health check (`manage.py healthcheck
<role>`, what the compose stack asks) — and failing it, with the reason, once it is gone."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .. import servers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# What README "Deploying" lists for a deployment behind TLS.
DOCUMENTED = {
    "DJANGO_SETTINGS_MODULE": "iotplatform.settings.production",
    "SECRET_KEY": "production-test-" + "k" * 40,
    "ALLOWED_HOSTS": "iot.example.com,127.0.0.1",
    "CSRF_TRUSTED_ORIGINS": "https://iot.example.com",
    "PUBLIC_URL": "https://iot.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_PRELOAD": "true",
    "EMAIL_URL": "smtp+tls://alerts:secret@smtp.example.com:587",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(servers.BIN / "python"), "manage.py", *args],
        cwd=servers.ROOT, env=servers.process_env(**env), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def _healthy(role: str, env: dict[str, str], *extra: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        done = _manage("healthcheck", role, *extra, **env)
        if done.returncode == 0 or time.monotonic() > deadline:
            return done.stdout + done.stderr
        time.sleep(1.0)


def test_check_deploy_is_clean_with_the_documented_variables() -> None:
    done = _manage("check", "--deploy", "--fail-level", "WARNING", **DOCUMENTED)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout
    lax = {**DOCUMENTED, "SECURE_SSL_REDIRECT": "false"}
    assert _manage("check", "--deploy", "--fail-level", "WARNING", **lax).returncode != 0


def test_every_process_runs_with_the_production_settings_and_passes_its_health_check(
    tmp_path: Path,
) -> None:
    (tmp_path / "redis").mkdir()
    with servers.redis_server(tmp_path / "redis") as redis, servers.mqtt_broker(tmp_path) as (
        mqtt_url, credentials,
    ):  # fmt: skip
        env = {
            **DOCUMENTED,
            "REDIS_URL": redis.url,
            "ALIVE_DIR": str(tmp_path),
            "MQTT_URL": mqtt_url,
            "MQTT_CREDENTIALS_FILE": str(credentials),
        }
        port = servers.free_port()
        url = f"--url=http://127.0.0.1:{port}/healthz"
        name = f"--worker-name=test-{os.getpid()}@{socket.gethostname()}"
        with (
            servers.asgi_server(port, **env),
            servers.celery_worker(**env) as worker,
            servers.celery_beat(**env),
            servers.alerts_evaluator(**env),
            servers.mqtt_bridge(mqtt_url, credentials, **env),
        ):
            assert "web: ok" in _healthy("web", env, url)
            assert "worker: ok" in _healthy("worker", env, name)
            assert "beat: ok" in _healthy("beat", env)  # every 15 s, handled by the worker
            assert "alerts: ok" in _healthy("alerts", env)
            assert "mqtt: ok" in _healthy("mqtt", env)
            servers.stop(worker)
            gone = _manage("healthcheck", "worker", name, **env)
            assert gone.returncode == 1
            assert "did not answer a ping" in gone.stderr
        stale = _manage("healthcheck", "alerts", "--max-age=0.5", **env)
        assert stale.returncode == 1 and "last worked" in stale.stderr
        down = _manage("healthcheck", "web", url, **env)
        assert down.returncode == 1 and "Connection refused" in down.stderr
