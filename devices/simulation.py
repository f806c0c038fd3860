"""Control of a tenant's simulated fleet (the demo plant): what operators ask for, and the
supervisor that makes it so by running ``python -m simulator run`` processes.

The web processes only record the wish (``simulation_control``); one supervisor process
(``manage.py simulator_supervise``) owns the simulator processes, so any number of web workers
can serve the control API.
"""

import contextlib
import json
import logging
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from iotplatform.live import Event, publish_on_commit
from iotplatform.stopping import StopRequested
from iotplatform.tenancy.models import Tenant

from .credentials import revocation_announce
from .models import IngestKey, SimulatedFleet
from .services import ingest_key_create

logger = logging.getLogger(__name__)
State = SimulatedFleet.State
KEY_NAME = "simulator"


def simulation_get(*, tenant: Tenant) -> SimulatedFleet:
    fleet, _ = SimulatedFleet.objects.get_or_create(tenant=tenant)
    return fleet


@transaction.atomic
def simulation_control(
    *,
    tenant: Tenant,
    action: str,
    devices: int | None = None,
    interval_seconds: int | None = None,
    time_scale: float | None = None,
    transport: str | None = None,
) -> SimulatedFleet:
    """start, stop or restart the tenant's simulated fleet (optionally resized, its wear
    sped up: ``time_scale`` times the clock, readings still in real time, or reporting over
    another ``transport``: http or mqtt)."""
    fleet = SimulatedFleet.objects.select_for_update().get_or_create(tenant=tenant)[0]
    if action not in ("start", "stop", "restart"):
        raise ValidationError({"action": "One of start, stop, restart."})
    if devices is not None:
        if not 1 <= devices <= 10_000:
            raise ValidationError({"devices": "From 1 to 10000."})
        fleet.devices = devices
    if interval_seconds is not None:
        if not 1 <= interval_seconds <= 3600:
            raise ValidationError({"interval_seconds": "From 1 to 3600."})
        fleet.interval_seconds = interval_seconds
    if time_scale is not None:
        if not 1 <= time_scale <= 100_000:
            raise ValidationError({"time_scale": "From 1 to 100000."})
        fleet.time_scale = time_scale
    if transport is not None:
        if transport not in ("http", "mqtt"):
            raise ValidationError({"transport": "One of http, mqtt."})
        fleet.transport = transport
    changed = any(v is not None for v in (devices, interval_seconds, time_scale, transport))
    if action == "stop":
        fleet.desired = State.STOPPED
    else:
        fleet.desired = State.RUNNING
        if action == "restart" or changed:
            fleet.restart_requested_at = timezone.now()
    fleet.save()
    _publish(fleet)
    return fleet


def _publish(fleet: SimulatedFleet) -> None:
    publish_on_commit(
        tenant_id=fleet.tenant_id,
        event=Event.SIMULATION_STATUS,
        data={
            "desired": fleet.desired,
            "status": fleet.status,
            "devices": fleet.devices,
            "time_scale": fleet.time_scale,
            "transport": fleet.transport,
            "stats": fleet.stats,
        },
    )


class Supervisor:
    """Keeps one simulator process per tenant whose fleet should run."""

    def __init__(self, *, url: str, state_root: Path, python: str = sys.executable):
        self.url = url
        self.state_root = state_root
        self.python = python
        self.processes: dict[int, tuple[subprocess.Popen[bytes], datetime]] = {}

    def _key(self, tenant: Tenant) -> str:
        """A fresh ingestion key for the simulator (older simulator keys are revoked)."""
        IngestKey.objects.filter(tenant=tenant, name=KEY_NAME, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        revocation_announce()
        return ingest_key_create(tenant=tenant, name=KEY_NAME)[1]

    def _start(self, fleet: SimulatedFleet) -> None:
        state = self.state_root / fleet.tenant.slug
        state.mkdir(parents=True, exist_ok=True)
        args = [
            self.python,
            "-m",
            "simulator",
            "run",
            "--url",
            self.url,
            "--devices",
            str(fleet.devices),
            "--interval",
            f"{fleet.interval_seconds}s",
            "--seed",
            str(fleet.seed),
            "--time-scale",
            str(fleet.time_scale),
            "--state-dir",
            str(state),
            *(["--mqtt", settings.MQTT_URL] if fleet.transport == "mqtt" else []),
            "--tenant-key",
            self._key(fleet.tenant),
        ]
        log = (state / "simulator.log").open("ab")
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        now = timezone.now()
        self.processes[fleet.tenant_id] = (process, now)
        fleet.status, fleet.pid, fleet.started_at, fleet.message = (
            State.RUNNING,
            process.pid,
            now,
            "",
        )
        logger.info("started the simulated fleet of %s (pid %s)", fleet.tenant.slug, process.pid)

    def _stop(self, tenant_id: int) -> None:
        process, _ = self.processes.pop(tenant_id)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def tick(self) -> None:
        """One reconciliation of every fleet: start, stop, restart, report."""
        for fleet in SimulatedFleet.objects.select_related("tenant"):
            running = self.processes.get(fleet.tenant_id)
            alive = running is not None and running[0].poll() is None
            if running is not None and not alive:
                self.processes.pop(fleet.tenant_id)
                fleet.status = State.FAILED
                fleet.message = f"simulator exited with {running[0].returncode}"
            if fleet.desired == State.RUNNING:
                wants_restart = (
                    alive
                    and fleet.restart_requested_at is not None
                    and running is not None
                    and fleet.restart_requested_at > running[1]
                )
                if wants_restart:
                    self._stop(fleet.tenant_id)
                    alive = False
                if not alive:
                    self._start(fleet)
            elif alive:
                self._stop(fleet.tenant_id)
                fleet.status, fleet.pid = State.STOPPED, None
            elif fleet.status != State.FAILED:
                fleet.status, fleet.pid = State.STOPPED, None
            status_file = self.state_root / fleet.tenant.slug / "status.json"
            if fleet.tenant_id in self.processes and status_file.exists():
                with contextlib.suppress(ValueError):
                    fleet.stats = json.loads(status_file.read_text())
                fleet.heartbeat_at = timezone.now()
            fleet.save()
            _publish(fleet)

    def stop_all(self) -> None:
        for tenant_id in list(self.processes):
            self._stop(tenant_id)
        SimulatedFleet.objects.filter(status=State.RUNNING).update(status=State.STOPPED, pid=None)

    def run(self, every: float = 2.0) -> None:
        stopping = StopRequested()
        try:
            while not stopping:
                try:
                    self.tick()
                except Exception:
                    logger.exception("simulator supervisor tick failed")
                for _ in range(int(every * 10)):
                    if stopping:
                        break
                    time.sleep(0.1)
        finally:
            self.stop_all()
