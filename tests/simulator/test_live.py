"""The live simulator against the real platform: provisioning, and store-and-forward across a
platform restart with nothing lost and nothing doubled."""

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devices.models import Device
from devices.services import ingest_key_create
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading

from .. import servers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_store_and_forward_across_a_platform_restart(tmp_path: Path, tenant: Tenant) -> None:
    servers.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _, key = ingest_key_create(tenant=tenant)
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    first = contextlib.ExitStack()
    first.enter_context(servers.asgi_server(port))
    state = tmp_path / "sim"
    log = (servers.ARTIFACTS / "simulator-live.log").open("wb")
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "run",
            "--url",
            url,
            "--tenant-key",
            key,
            "--devices",
            "8",
            "--interval",
            "1s",
            "--duration",
            "14s",
            "--state-dir",
            str(state),
            "--duplicate-rate",
            "0.2",
            "--seed",
            "3",
        ],
        cwd=servers.ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(5)
        first.close()  # the platform goes away mid-run…
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/healthz", timeout=2)
        time.sleep(4)
        with servers.asgi_server(port):  # …and comes back
            assert simulator.wait(timeout=60) == 0
    finally:
        if simulator.poll() is None:
            simulator.kill()
        first.close()
    summary = json.loads((state / "summary.json").read_text())
    wear = json.loads((state / "wear.json").read_text())  # where the next run picks up
    assert wear["seed"] == 3 and len(wear["devices"]) == 8
    assert summary["spooled"] > 0, summary  # it did have to buffer
    assert summary["spool_left"] == 0 and summary["rejected"] == 0, summary
    assert Device.objects.filter(tenant=tenant).count() == 8
    assert Reading.objects.filter(tenant=tenant).count() == summary["generated"]
    assert summary["duplicate"] > 0  # the deliberate resends were counted, not stored
