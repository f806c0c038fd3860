import os
import subprocess
import sys

import pytest

from ..servers import ROOT


def run_settings(module: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    environment.update(DJANGO_SETTINGS_MODULE=module, **env)
    code = (
        "import django; django.setup(); from django.conf import settings as s;"
        " print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.DATABASES['default']['PORT'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secret_key() -> None:
    result = run_settings("iotplatform.settings.production", ALLOWED_HOSTS="example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_starts_with_a_secret_key_and_secure_cookies() -> None:
    result = run_settings(
        "iotplatform.settings.production", SECRET_KEY="s" * 50, ALLOWED_HOSTS="example.com"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["False", "True"]


@pytest.mark.parametrize("port", ["6543"])
def test_environment_wins_over_dotenv(port: str) -> None:
    result = run_settings(
        "iotplatform.settings.local", DATABASE_URL=f"postgres://u@127.0.0.1:{port}/db"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", port]


@pytest.mark.django_db
def test_public_health_endpoint_reports_services_but_no_tenant_data(tenant: object) -> None:
    from django.test import Client

    body = Client().get("/healthz").json()
    assert body["ok"] is True
    assert body["database"]["ok"] and body["database"]["timescaledb"]
    assert "tenants" not in body["database"]
    assert body["redis"] == {"ok": True}
