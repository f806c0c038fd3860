"""The live simulator against the real platform: provisioning, and store-and-forward across a
platform restart with nothing lost and nothing doubled."""

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


def uvicorn(port: int, name: str) -> "servers.subprocess.Popen[bytes]":
    log = (servers.ARTIFACTS / f"uvicorn-sim-{name}.log").open("wb")
    proc = subprocess.Popen(
        [
            str(servers.BIN / "uvicorn"),
            "iotplatform.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=servers.ROOT,
        env=servers.process_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    servers.wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
    return proc


def test_store_and_forward_across_a_platform_restart(tmp_path: Path, tenant: Tenant) -> None:
    servers.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _, key = ingest_key_create(tenant=tenant)
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    server = uvicorn(port, "first")
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
        servers.stop(server)  # the platform goes away mid-run…
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/healthz", timeout=2)
        time.sleep(4)
        server = uvicorn(port, "second")  # …and comes back
        assert simulator.wait(timeout=60) == 0
    finally:
        if simulator.poll() is None:
            simulator.kill()
        servers.stop(server)
    summary = json.loads((state / "summary.json").read_text())
    assert summary["spooled"] > 0, summary  # it did have to buffer
    assert summary["spool_left"] == 0 and summary["rejected"] == 0, summary
    assert Device.objects.filter(tenant=tenant).count() == 8
    assert Reading.objects.filter(tenant=tenant).count() == summary["generated"]
    assert summary["duplicate"] > 0  # the deliberate resends were counted, not stored
