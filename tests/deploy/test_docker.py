"""No Docker engine runs here: validate the deployment files with the real tools instead."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..servers import ROOT

DOCKER = ROOT / "docker"


def compose_binary() -> Path:
    import compose

    return Path(compose.__file__).parent / "docker-compose"


def test_compose_file_is_valid() -> None:
    result = subprocess.run(
        [str(compose_binary()), "-f", str(DOCKER / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "x" * 50, "EMAIL_URL": "smtp://relay:25"},
    )
    assert result.returncode == 0, result.stderr


def test_compose_file_is_invalid_when_broken(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text((DOCKER / "compose.yaml").read_text().replace("services:", "servces:", 1))
    result = subprocess.run(
        [str(compose_binary()), "-f", str(broken), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0


def test_compose_runs_every_part() -> None:
    spec = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert set(spec["services"]) >= {
        "timescaledb",
        "redis",
        "mosquitto",
        "web",
        "worker",
        "beat",
        "alerts",
        "mqtt-ingest",
    }
    assert spec["services"]["timescaledb"]["image"].startswith("timescale/timescaledb")


def test_redis_keeps_the_queued_tasks_across_a_restart() -> None:
    """It is the Celery broker: an alert email queued before a restart must still be sent."""
    redis = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "--save" not in command or command[command.index("--save") + 1] != ""
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "broker.Dockerfile"])
def test_dockerfile_passes_hadolint_and_runs_as_non_root(dockerfile: str) -> None:
    result = subprocess.run(
        ["hadolint", str(DOCKER / dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = (DOCKER / dockerfile).read_text()
    assert "\nUSER " in text and "USER root" not in text


def _config(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(compose_binary()), "-f", str(DOCKER / "compose.yaml"), "--profile", "demo",
         "--profile", "proxy", "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "x" * 50, **env},
    )  # fmt: skip


def test_every_process_that_is_not_a_web_server_has_a_health_check_of_its_own(
    tmp_path: Path,
) -> None:
    import json

    result = _config(tmp_path, EMAIL_URL="smtp+tls://user:pass@smtp.example.com:587")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    roles = {"worker": "worker", "beat": "beat", "alerts": "alerts", "mqtt-ingest": "mqtt"}
    for service, role in roles.items():
        test = services[service]["healthcheck"]["test"]
        assert test == ["CMD", "python", "manage.py", "healthcheck", role], service
    assert "healthcheck" not in services["web"]  # the image's: GET /healthz
    assert services["migrate"]["healthcheck"]["disable"] is True
    assert services["simulator"]["command"][:3] == ["python", "manage.py", "simulator_supervise"]
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"
    environment = services["web"]["environment"]
    assert environment["EMAIL_URL"] == "smtp+tls://user:pass@smtp.example.com:587"


def test_the_stack_refuses_to_come_up_without_a_mail_relay(tmp_path: Path) -> None:
    result = _config(tmp_path)
    assert result.returncode != 0
    assert "set EMAIL_URL" in result.stderr


def test_the_proxy_example_forwards_the_scheme_and_upgrades_sockets() -> None:
    conf = (DOCKER / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_pass http://web:8000;" in conf
    assert "return 301 https://" in conf
