"""The simulated plant over MQTT, end to end on the real parts: the simulator provisions over
HTTP, then every device reports through the platform's broker with its own token and obeys a
command pushed to it; the broker restarts mid-run and nothing is lost — every reading the plant
generated is stored once."""

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devices.commands import command_issue
from devices.models import Command, CommandKind, Device
from devices.services import ingest_key_create
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading
from tests import servers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_plant_reports_over_mqtt_across_a_broker_restart(
    tmp_path: Path, tenant: Tenant
) -> None:
    servers.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _, key = ingest_key_create(tenant=tenant)
    port = servers.free_port()
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    state = tmp_path / "sim"
    log = (servers.ARTIFACTS / "simulator-mqtt.log").open("wb")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(servers.asgi_server())
        first = contextlib.ExitStack()
        mqtt_url, credentials = first.enter_context(servers.mqtt_broker(broker_dir, port))
        bridge_log = servers.ARTIFACTS / "mqtt-bridge.log"
        stack.enter_context(servers.mqtt_bridge(mqtt_url, credentials))
        servers.until(lambda: bridge_log.exists() and "bridge connected" in bridge_log.read_text())
        simulator = subprocess.Popen(
            [sys.executable, "-m", "simulator", "run", "--url", url, "--tenant-key", key,
             "--devices", "6", "--interval", "1s", "--duration", "20s", "--seed", "5",
             "--anomalies-per-day", "0", "--duplicate-rate", "0", "--mqtt", mqtt_url,
             "--state-dir", str(state)],
            cwd=servers.ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            servers.until(lambda: Reading.objects.filter(tenant=tenant).count() > 0)
            device = Device.objects.filter(tenant=tenant).order_by("id").first()
            assert device is not None
            command = command_issue(
                device=device, kind=CommandKind.SET_CONFIG, payload={"interval_seconds": 2}
            )
            servers.until(lambda: Command.objects.get(pk=command.id).status == "acked")
            first.close()  # the broker goes away mid-run…
            time.sleep(3)
            with servers.mqtt_broker(broker_dir, port):  # …and comes back, its sessions kept
                assert simulator.wait(timeout=60) == 0
                summary = json.loads((state / "summary.json").read_text())
                generated = summary["generated"]
                servers.until(
                    lambda: Reading.objects.filter(tenant=tenant).count() >= generated, 60
                )
                time.sleep(1)
        finally:
            if simulator.poll() is None:
                simulator.kill()
            first.close()
    assert summary["spooled"] > 0 and summary["spool_left"] == 0, summary
    assert summary["published"] > 0 and summary["accepted"] == 0, summary  # MQTT, not HTTP
    assert Reading.objects.filter(tenant=tenant).count() == generated
    assert Command.objects.get(pk=command.id).response == {
        "ok": True,
        "config": {"interval_seconds": 2},
    }
