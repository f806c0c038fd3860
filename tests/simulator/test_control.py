"""Control of a tenant's simulated fleet: the API records the wish, the supervisor runs the
simulator process to match it, against the real platform."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from devices.models import Device, SimulatedFleet
from devices.simulation import Supervisor
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading

from .. import servers


@pytest.mark.django_db
class TestSimulationAPI:
    def test_viewer_reads_operator_controls(self, api_as: Any, viewer: Any, operator: Any) -> None:
        status = api_as(viewer).get("/api/v1/simulator").json()
        assert (status["desired"], status["status"]) == ("stopped", "stopped")
        assert (
            api_as(viewer).post("/api/v1/simulator", {"action": "start"}, format="json").status_code
            == 403
        )
        started = (
            api_as(operator)
            .post(
                "/api/v1/simulator",
                {"action": "start", "devices": 5, "interval_seconds": 2, "time_scale": 3600},
                format="json",
            )
            .json()
        )
        assert (
            started["desired"], started["devices"], started["interval_seconds"],
            started["time_scale"],
        ) == ("running", 5, 2, 3600.0)  # fmt: skip
        assert SimulatedFleet.objects.get().restart_requested_at is not None  # applied at once

    def test_the_fleet_reports_over_mqtt_when_asked(
        self, api_as: Any, operator: Any, tenant: Tenant, tmp_path: Path, monkeypatch: Any
    ) -> None:
        from django.conf import settings

        from devices import simulation

        answer = api_as(operator).post(
            "/api/v1/simulator", {"action": "start", "transport": "mqtt"}, format="json"
        )
        assert answer.status_code == 200 and answer.json()["transport"] == "mqtt"
        started: list[list[str]] = []

        class Process:
            pid = 4242

            def __init__(self, args: list[str], **kwargs: Any) -> None:
                started.append(args)

            def poll(self) -> None:
                return None

        monkeypatch.setattr(simulation.subprocess, "Popen", Process)
        supervisor = Supervisor(url="http://127.0.0.1:9", state_root=tmp_path)
        supervisor.tick()
        args = started[0]
        assert args[args.index("--mqtt") + 1] == settings.MQTT_URL
        supervisor.processes.clear()
        api_as(operator).post("/api/v1/simulator", {"action": "restart", "transport": "http"},
                              format="json")  # fmt: skip
        supervisor.tick()
        assert "--mqtt" not in started[1]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"action": "explode"}, "action"),
            ({"action": "start", "devices": 0}, "devices"),
            ({"action": "start", "devices": 20_000}, "devices"),
            ({"action": "start", "interval_seconds": 0}, "interval_seconds"),
            ({"action": "start", "time_scale": 0.5}, "time_scale"),
            ({"action": "start", "time_scale": "fast"}, "time_scale"),
            ({"action": "start", "transport": "coap"}, "transport"),
        ],
    )
    def test_bad_requests_name_the_field(
        self, api_as: Any, operator: Any, body: dict[str, Any], field: str
    ) -> None:
        response = api_as(operator).post("/api/v1/simulator", body, format="json")
        assert response.status_code == 400 and field in response.json()

    def test_each_tenant_controls_its_own_fleet(
        self, api_as: Any, operator: Any, other_admin: Any, other_tenant: Tenant
    ) -> None:
        api_as(operator).post("/api/v1/simulator", {"action": "start"}, format="json")
        assert api_as(other_admin).get("/api/v1/simulator").json()["desired"] == "stopped"
        assert not SimulatedFleet.objects.filter(tenant=other_tenant, desired="running").exists()


@pytest.fixture
def server() -> Iterator[str]:
    with servers.asgi_server() as url:
        yield url


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_supervisor_starts_restarts_and_stops_the_fleet(
    server: str, tenant: Tenant, operator: Any, api_as: Any, tmp_path: Path
) -> None:
    supervisor = Supervisor(url=server, state_root=tmp_path)
    client = api_as(operator)
    try:
        client.post(
            "/api/v1/simulator",
            {"action": "start", "devices": 4, "interval_seconds": 1},
            format="json",
        )
        supervisor.tick()
        fleet = SimulatedFleet.objects.get(tenant=tenant)
        assert fleet.status == "running" and fleet.pid
        first_pid = fleet.pid
        servers.until(lambda: Reading.objects.filter(tenant=tenant).count() > 8)
        assert Device.objects.filter(tenant=tenant).count() == 4
        servers.until(lambda: (tmp_path / tenant.slug / "status.json").exists())
        supervisor.tick()
        stats = client.get("/api/v1/simulator").json()["stats"]
        assert stats["devices"] == 4 and stats["accepted"] > 0

        client.post("/api/v1/simulator", {"action": "restart", "devices": 6}, format="json")
        supervisor.tick()
        fleet.refresh_from_db()
        assert fleet.status == "running" and fleet.pid != first_pid
        servers.until(lambda: Device.objects.filter(tenant=tenant).count() == 6)

        client.post("/api/v1/simulator", {"action": "stop"}, format="json")
        supervisor.tick()
        fleet.refresh_from_db()
        assert fleet.status == "stopped" and fleet.pid is None
        connection.close()
        settled = Reading.objects.filter(tenant=tenant).count()
        time.sleep(2.5)
        assert Reading.objects.filter(tenant=tenant).count() == settled  # nobody reports
    finally:
        supervisor.stop_all()
