"""Live mode: the fleet reports in real time through the platform's public device API.

Each tick (the reporting interval) every working device sends one reading with its own token
to ``/api/v1/ingest``. Wear accumulates with use (``--time-scale`` speeds it up for demos); a
worn-out device fails and stops reporting until it is repaired (automatically after
``repair_minutes``). Anomalies, outages and clock skews follow the device's seeded schedule
(``anomalies``, the same as a generated history's) and are written to ``labels.csv`` in the state
directory once each is over; failures go to ``failures.csv`` once repaired (or, without a repair
time, when the run stops). Both files have the history's columns. Delivery is store-and-forward
(see ``transport``). The fleet's tokens live in ``tokens.json`` in the state directory: provisioned
once through ``/api/v1/provision`` with the tenant's ingestion key, or read from ``--tokens``.
"""

import asyncio
import contextlib
import csv
import json
import logging
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import anomalies, physics
from .faults import take_fault
from .fleet import DeviceSpec, Rates, make_fleet
from .mqtt import MQTTFleet
from .state import (
    MEAN_USE_RATE,
    WEAR_FILE,
    WearState,
    device_states,
    in_service,
    wear_load,
    wear_save,
)
from .transport import RETRY_STATUSES, HTTPClient, Spool, TransportError, tokens_load

logger = logging.getLogger("simulator")


@dataclass
class LiveDevice:
    spec: DeviceSpec
    faults: anomalies.LiveFaults
    use: float = 0.0
    life_use: float = 0.0
    wander: float = 0.0
    failed_at: float | None = None
    battery_sag: float = 0.0  # points, recovering (physics.SAG_RECOVERY)
    born: float = 0.0
    interval: float | None = None  # set_config: its own reporting interval
    mode: str | None = None  # a wear fault it was told to take on, over its own failure mode
    last_sent: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)


class LiveRunner:
    def __init__(
        self,
        *,
        url: str,
        tenant_key: str | None,
        devices: int,
        seed: int,
        interval: float,
        state_dir: Path,
        tokens_file: str | None,
        rates: Rates,
        time_scale: float = 1.0,
        duplicate_rate: float = 0.01,
        repair_minutes: float = 10.0,
        connections: int = 32,
        command_poll: float = 10.0,
        mqtt_url: str | None = None,
    ):
        self.url = url.rstrip("/")
        self.tenant_key = tenant_key
        self.interval = interval
        self.state_dir = state_dir
        self.tokens_file = tokens_file
        self.rates = rates
        self.time_scale = time_scale
        self.duplicate_rate = duplicate_rate
        self.repair_seconds = repair_minutes * 60
        self.connections = connections
        self.command_poll = command_poll
        self.mqtt_url = mqtt_url  # readings and commands over MQTT (provisioning stays HTTP)
        self.mqtt: MQTTFleet | None = None
        self.rng = random.Random(seed)
        self.noise = np.random.default_rng([seed, 0x11FE])
        self.seed = seed
        now = time.time()
        saved = wear_load(state_dir / WEAR_FILE, seed=seed, now=now, rate=time_scale)
        self.devices = []
        for spec in make_fleet(devices, seed, rates):
            used = in_service(spec) * spec.life_use
            was = saved.get(spec.serial) or WearState(used, spec.life_use, used / MEAN_USE_RATE)
            self.devices.append(
                LiveDevice(
                    spec,
                    anomalies.LiveFaults(spec, rates),
                    use=was.use,
                    life_use=was.life_use,
                    wander=was.wander,
                    born=now - was.age / time_scale,
                    mode=was.mode,
                )
            )
        self.tokens: dict[str, str] = {}
        self.stats = {
            "ticks": 0,
            "generated": 0,
            "accepted": 0,
            "duplicate": 0,
            "rejected": 0,
            "spooled": 0,
            "resent": 0,
            "failures": 0,
            "commands": 0,
            "published": 0,  # over MQTT
        }
        self.stopping = False

    # --- physics -----------------------------------------------------------------------------

    def _readings(self, now: float) -> list[tuple[str, bytes]]:
        """One request body per reporting device."""
        dt = self.interval * self.time_scale
        out: list[tuple[str, bytes]] = []
        by_kind: dict[str, list[LiveDevice]] = {}
        active: dict[str, list[anomalies.Event]] = {}
        for device in self.devices:
            # The schedule runs on while a device is down, as a history's does.
            active[device.spec.serial] = device.faults.tick(now)
            if device.failed_at is not None:
                if now - device.failed_at >= self.repair_seconds:
                    self._repaired(device, now)
                    device.use = 0.0
                    device.born = now
                    device.life_use = device.spec.life_use * self.rng.lognormvariate(0, 0.15)
                else:
                    continue
            if device.interval and now - device.last_sent < device.interval - self.interval / 2:
                continue
            by_kind.setdefault(device.spec.kind, []).append(device)
        for kind, group in by_kind.items():
            phase = np.array([d.spec.phase for d in group])
            wander = np.array([d.wander for d in group])
            wander = wander * 0.98 + self.noise.normal(0, 0.02, len(group))
            load = np.clip(physics.shift_load(np.full(len(group), now), phase) + wander, 0.05, 1)
            for d, w, lo in zip(group, wander, load, strict=True):
                d.wander = float(w)
                d.use += (0.4 + float(lo)) * dt
            degradation = np.clip(np.array([(d.use / d.life_use) ** 1.6 for d in group]), 0, 1)
            modes = [d.mode or d.spec.failure_mode for d in group]
            wear = physics.Wear(
                *[
                    np.where(np.array(modes) == m, degradation, 0.0)
                    for m in ("bearing", "overheating", "seal_leak", "battery_fade")
                ]
            )
            recovery = float(np.exp(-dt / physics.SAG_RECOVERY))
            for d in group:
                d.battery_sag *= recovery
                if self.rng.random() < dt * physics.SAGS_PER_DAY / physics.DAY:
                    d.battery_sag += self.rng.uniform(1, 4)
            battery = physics.battery_level(
                np.array([(now - d.born) * self.time_scale for d in group]),
                fade=wear.battery_fade,
                drain_per_day=np.array([d.spec.drain_per_day for d in group]),
                sag=np.array([d.battery_sag for d in group]),
            )
            values = physics.metrics(
                kind,
                load=load,
                temp_air=physics.ambient(np.full(len(group), now)),
                wear=wear,
                battery=battery,
                noise=self.noise,
            )
            for i, device in enumerate(group):
                if degradation[i] >= 1.0:
                    device.failed_at = now
                    self.stats["failures"] += 1
                    continue
                reading = {m: float(values[m][i]) for m in values}
                ts = now
                events = active[device.spec.serial]
                if events:
                    device.faults.distort(events, reading, now)
                    when = np.array([now])
                    if not anomalies.reporting(events, when)[0]:
                        continue
                    ts = float(anomalies.reported_times(events, when)[0])
                device.last_sent = now
                body = json.dumps(
                    {"ts": int(ts * 1000), "values": {k: round(v, 4) for k, v in reading.items()}}
                ).encode()
                out.append((device.spec.serial, body))
        self._labels(now)
        return out

    # --- ground truth ----------------------------------------------------------------------

    def _append(self, name: str, columns: tuple[str, ...], rows: list[list[Any]]) -> None:
        """Append rows to a ground-truth file of the state directory, its header first."""
        if not rows:
            return
        path = self.state_dir / name
        new = not path.exists() or path.stat().st_size == 0
        with path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(columns)
            writer.writerows(rows)

    def _set_aside_old_labels(self) -> None:
        """A state directory from before the shared label format keeps its headerless
        ``labels.csv`` as ``labels.old.csv``, so the new rows start a file of their own."""
        path = self.state_dir / "labels.csv"
        if path.exists() and path.stat().st_size:
            with path.open(newline="") as handle:
                header = next(csv.reader(handle), [])
            if header != list(anomalies.LABEL_COLUMNS):
                path.replace(path.with_name("labels.old.csv"))

    def _labels(self, now: float, *, stopping: bool = False) -> None:
        """Label the faults that are over (all of them when the run stops)."""
        rows = [
            anomalies.label_row(d.spec.serial, event)
            for d in self.devices
            for event in (d.faults.flush() if stopping else d.faults.close(now))
        ]
        self._append("labels.csv", anomalies.LABEL_COLUMNS, rows)

    def _repaired(self, device: LiveDevice, now: float | None) -> None:
        """A failed device is back (``now`` None: still down as the run stops)."""
        assert device.failed_at is not None
        row = anomalies.failure_row(
            device.spec.serial, device.spec.failure_mode, device.failed_at, now
        )
        self._append("failures.csv", anomalies.FAILURE_COLUMNS, [row])
        device.failed_at = None

    # --- commands ------------------------------------------------------------------------------

    def apply_command(
        self, device: LiveDevice, method: str, params: dict[str, Any], now: float
    ) -> dict[str, Any]:
        """Carry out a command as the real device would; returns its answer."""
        if method == "restart":
            was_failed = device.failed_at is not None
            if was_failed:
                self._repaired(device, now)
            device.use *= 0.6  # a restart clears the fault and eases, not cures, the wear
            device.faults.cut(now)  # and the anomalies and outages under way (not the clock)
            return {"ok": True, "restarted_at": int(now * 1000), "was_failed": was_failed}
        if method == "set_config":
            if "interval_seconds" in params:
                device.interval = float(params["interval_seconds"])
            if "thresholds" in params:
                device.config.setdefault("thresholds", {}).update(params["thresholds"])
            device.config.update({k: v for k, v in params.items() if k != "thresholds"})
            return {"ok": True, "config": device.config}
        if method == "simulate":
            return take_fault(device, params, now, self.interval)
        return {"error": f"unknown method {method!r}"}

    async def _commands(self, client: HTTPClient) -> None:
        """Fetch and answer each device's commands every ``command_poll`` seconds."""
        by_serial = {d.spec.serial: d for d in self.devices}

        async def poll(serial: str) -> None:
            headers = {"Authorization": f"Device {self.tokens[serial]}"}
            try:
                answer = await client.request("GET", "/api/v1/rpc?timeout=0", b"", headers)
                if answer.status != 200:
                    return
                command = answer.json()
                result = self.apply_command(
                    by_serial[serial], command["method"], command.get("params") or {}, time.time()
                )
                await client.request(
                    "POST", f"/api/v1/rpc/{command['id']}", json.dumps(result).encode(), headers
                )
                self.stats["commands"] += 1
                logger.info("%s: %s %s", serial, command["method"], json.dumps(result))
            except TransportError:
                return

        while not self.stopping:
            await asyncio.gather(*(poll(serial) for serial in by_serial))
            await asyncio.sleep(self.command_poll)

    # --- delivery ------------------------------------------------------------------------------

    def _obey(self, serial: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A command pushed over MQTT, carried out as the HTTP-polled ones are."""
        device = next(d for d in self.devices if d.spec.serial == serial)
        result = self.apply_command(device, method, params, time.time())
        self.stats["commands"] += 1
        logger.info("%s: %s %s (MQTT)", serial, method, json.dumps(result))
        return result

    async def _send(self, client: HTTPClient, serial: str, body: bytes) -> bool:
        """True when the platform took it (stored, duplicate or rejected for good); over MQTT,
        when the device's connection took it (QoS 1: the broker has it once acknowledged)."""
        if self.mqtt is not None:
            published = self.mqtt.publish(serial, body)
            self.stats["published"] += published
            return published
        token = self.tokens[serial]
        try:
            answer = await client.request(
                "POST", "/api/v1/ingest", body, {"Authorization": f"Device {token}"}
            )
        except TransportError as exc:
            self._warn(f"platform unreachable ({exc}); buffering on disk")
            return False
        if answer.status in RETRY_STATUSES:
            self._warn(f"platform answered {answer.status}; buffering on disk")
            return False
        if answer.status in (200, 400):
            counts = answer.json() or {}
            for key in ("accepted", "duplicate", "rejected"):
                self.stats[key] += int(counts.get(key, 0))
        else:
            logger.warning("device %s: %s %s", serial, answer.status, answer.body[:200])
        return True

    async def _drain(self, client: HTTPClient, spool: Spool) -> None:
        while not self.stopping:
            segment = spool.oldest()
            if segment is None:
                await asyncio.sleep(0.2)
                continue
            path, entries = segment
            ok = True
            for entry in entries:
                if not await self._send(client, entry["serial"], entry["body"].encode()):
                    ok = False
                    break
                self.stats["resent"] += 1
            if ok:
                spool.done(path)
            else:
                await asyncio.sleep(2.0)

    async def _main(self, duration: float | None) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        client = HTTPClient(self.url, connections=self.connections)
        drain_client = HTTPClient(self.url, connections=4)
        spool = Spool(self.state_dir / "spool")
        self._set_aside_old_labels()
        self.tokens = await tokens_load(
            client,
            state_dir=self.state_dir,
            tokens_file=self.tokens_file,
            tenant_key=self.tenant_key,
            specs=[d.spec for d in self.devices],
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self._stop)
        drainer = asyncio.create_task(self._drain(drain_client, spool))
        command_client = HTTPClient(self.url, connections=8)
        if self.mqtt_url:
            self.mqtt = MQTTFleet(self.mqtt_url, self.tokens, self._obey)
            await self.mqtt.start([d.spec.serial for d in self.devices])
        polling = self.command_poll > 0 and self.mqtt is None  # MQTT pushes commands instead
        commander = asyncio.create_task(self._commands(command_client)) if polling else None
        started = time.time()
        next_tick = started
        last_log = started
        logger.info(
            "%d devices reporting every %.1f s to %s", len(self.devices), self.interval, self.url
        )
        while not self.stopping and (duration is None or time.time() - started < duration):
            now = time.time()
            batch = self._readings(now)
            self.stats["ticks"] += 1
            self.stats["generated"] += sum(len(json.loads(b)["values"]) for _, b in batch)
            if not spool.empty():
                for serial, body in batch:
                    spool.append(serial, body)
                self.stats["spooled"] += len(batch)
            else:
                results = await asyncio.gather(*(self._send(client, s, b) for s, b in batch))
                for (serial, body), ok in zip(batch, results, strict=True):
                    if not ok:
                        spool.append(serial, body)
                        self.stats["spooled"] += 1
                dupes = [p for p in batch if self.rng.random() < self.duplicate_rate]
                await asyncio.gather(*(self._send(client, s, b) for s, b in dupes))
            self._write_status(len(batch), started)
            if time.time() - last_log >= 30:
                last_log = time.time()
                logger.info("stats %s", json.dumps(self.stats))
                self._save_wear()
            next_tick += self.interval
            await asyncio.sleep(max(0.0, next_tick - time.time()))
        self.stopping = False
        # Give the spool a last chance, then leave the rest on disk for the next run.
        deadline = time.time() + 10
        while not spool.empty() and time.time() < deadline:
            await asyncio.sleep(0.2)
        self.stopping = True
        self._save_wear()
        self._labels(time.time(), stopping=True)
        for device in self.devices:
            if device.failed_at is not None:
                self._repaired(device, None)
        for task in (drainer, commander):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.mqtt is not None:
            await self.mqtt.close()
        await command_client.close()
        await client.close()
        await drain_client.close()
        summary = {**self.stats, "spool_left": len(spool)}
        (self.state_dir / "summary.json").write_text(json.dumps(summary))
        logger.info("stopped: %s", json.dumps(summary))
        return 0

    def _write_status(self, reporting: int, started: float) -> None:
        """The latest figures for whoever supervises this process (status.json)."""
        elapsed = max(time.time() - started, 1e-9)
        status = {
            **self.stats,
            "devices": len(self.devices),
            "reporting": reporting,
            "failed": sum(d.failed_at is not None for d in self.devices),
            "points_per_s": round(self.stats["generated"] / elapsed, 1),
            "updated_at": int(time.time() * 1000),
            "wearing": device_states(self.devices, time.time()),
        }
        target = self.state_dir / "status.json"
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(status))
        temporary.replace(target)

    def _save_wear(self) -> None:
        """Where each device's life stands (a failed one: its next life, about to begin)."""
        now = time.time()
        states = {
            d.spec.serial: WearState(0.0, d.life_use, 0.0)
            if d.failed_at is not None
            else WearState(d.use, d.life_use, (now - d.born) * self.time_scale, d.mode, d.wander)
            for d in self.devices
        }
        wear_save(self.state_dir / WEAR_FILE, at=now, seed=self.seed, states=states)

    def _warn(self, message: str) -> None:
        """Log a delivery problem at most every 10 seconds."""
        now = time.monotonic()
        if now - getattr(self, "_warned_at", 0.0) >= 10:
            self._warned_at = now
            logger.warning(message)

    def _stop(self) -> None:
        self.stopping = True

    def run(self, duration: float | None = None) -> int:
        return asyncio.run(self._main(duration))
