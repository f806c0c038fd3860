"""Device commands over ThingsBoard's RPC endpoints, through the real ASGI server, and the
simulator answering them."""

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devices.commands import command_issue
from devices.models import Command, CommandStatus, Device
from devices.services import device_create, device_types_install_catalog, ingest_key_create
from iotplatform.tenancy.models import Tenant

from .. import servers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with servers.asgi_server(INGEST_AUTH_CACHE_SECONDS="0") as url:
        yield url


@pytest.fixture
def pump(tenant: Tenant) -> tuple[Device, str]:
    types = device_types_install_catalog(tenant=tenant)
    return device_create(tenant=tenant, device_type=types[0], name="Pump", serial="R-1")


def test_fetch_answer_and_long_poll(
    server: str, pump: tuple[Device, str], other_device: Device
) -> None:
    device, token = pump
    rpc = f"{server}/api/v1/{token}/rpc"
    assert requests.get(f"{rpc}?timeout=0", timeout=10).status_code == 408
    command = command_issue(device=device, kind="set_config", payload={"interval_seconds": 7})
    got = requests.get(f"{rpc}?timeout=0", timeout=10)
    assert got.status_code == 200
    assert got.json() == {
        "id": command.id,
        "method": "set_config",
        "params": {"interval_seconds": 7},
    }
    assert Command.objects.get(pk=command.pk).status == CommandStatus.SENT
    bad = requests.post(
        f"{rpc}/{command.id}", json={"config": {"interval_seconds": -1}}, timeout=10
    )
    assert bad.status_code == 400 and "interval_seconds" in bad.json()["detail"], bad.text
    assert Command.objects.get(pk=command.pk).status == CommandStatus.SENT  # still open
    answer = requests.post(
        f"{rpc}/{command.id}", json={"ok": True, "config": {"interval_seconds": 7}}, timeout=10
    )
    assert answer.json() == {"id": command.id, "status": "acked"}
    device.refresh_from_db()
    assert device.reported_config == {"interval_seconds": 7}
    assert requests.post(f"{rpc}/{command.id}", json={}, timeout=10).status_code == 404

    # long poll: the command issued while the device waits reaches it within a second or so
    result: dict[str, Any] = {}

    def wait() -> None:
        began = time.monotonic()
        response = requests.get(
            f"{server}/api/v1/rpc?timeout=5000",
            timeout=15,
            headers={"Authorization": f"Device {token}"},
        )
        result.update(
            status=response.status_code, body=response.json(), seconds=time.monotonic() - began
        )

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    restart = command_issue(device=device, kind="restart")
    waiter.join(15)
    assert result["status"] == 200 and result["body"]["id"] == restart.id
    assert result["seconds"] < 2.5
    # a device cannot see or answer another device's commands; bad tokens are 401
    foreign = command_issue(device=other_device, kind="restart")
    assert requests.post(f"{rpc}/{foreign.id}", json={}, timeout=10).status_code == 404
    assert requests.get(f"{server}/api/v1/nope.token/rpc", timeout=10).status_code == 401
    assert requests.get(f"{rpc}?timeout=abc", timeout=10).status_code == 400


def test_the_simulator_obeys(server: str, tenant: Tenant, tmp_path: Path) -> None:
    _, key = ingest_key_create(tenant=tenant)
    state = tmp_path / "sim"
    log = (servers.ARTIFACTS / "simulator-commands.log").open("wb")
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "run",
            "--url",
            server,
            "--tenant-key",
            key,
            "--devices",
            "3",
            "--interval",
            "1s",
            "--duration",
            "10s",
            "--command-poll",
            "1s",
            "--state-dir",
            str(state),
        ],
        cwd=servers.ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while Device.objects.filter(tenant=tenant).count() < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        device = Device.objects.filter(tenant=tenant).order_by("serial").first()
        assert device is not None
        command = command_issue(
            device=device,
            kind="set_config",
            payload={"thresholds": {"temperature": {"warn_high": 75}}},
        )
        while time.monotonic() < deadline:
            command.refresh_from_db()
            if command.status == CommandStatus.ACKED:
                break
            time.sleep(0.2)
        assert command.status == CommandStatus.ACKED
        device.refresh_from_db()
        assert device.reported_config == {"thresholds": {"temperature": {"warn_high": 75}}}
        assert simulator.wait(timeout=30) == 0
    finally:
        if simulator.poll() is None:
            simulator.kill()
    assert json.loads((state / "summary.json").read_text())["commands"] >= 1
