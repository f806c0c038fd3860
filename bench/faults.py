"""Fault benchmark: the platform under a steady load while its parts fail one after another.

    .venv/bin/python bench/faults.py [--gap 15] [--http-devices 4] [--mqtt-devices 4]

Not while the test suite runs: it stops and starts the TimescaleDB server the suite shares.

1. A scratch database (``iot_bench_faults``) with pumps, an admin with an email address and a
   rule "temperature above 85 °C"; a Redis of its own persisting as the compose stack's does
   (append-only file); the development SMTP sink; the platform's broker. The platform's
   processes as `make run` starts them (web, Celery worker, beat, alert evaluator, MQTT bridge),
   each under a supervisor that starts it again a second after it exits, as compose's
   ``restart: unless-stopped`` and systemd's ``Restart=always`` do. Nobody else intervenes.
2. The load: HTTP devices post batches (100 readings of 3 metrics) in rounds, a request that
   fails sent again as it was until it is acknowledged, as device firmware does; their
   temperature runs a hot spell every few thousand readings, each one alarm and its email.
   MQTT devices publish one reading (3 metrics) a message at QoS 1 through the broker.
3. The faults, ``--gap`` seconds apart: Redis restarted (down 3 s); PostgreSQL/TimescaleDB
   stopped and started with the project's own pg_ctl (down 10 s); the Celery worker killed with
   SIGKILL; beat restarted; the web process restarted; the MQTT bridge killed with SIGKILL.
   After each: how long until every part is back (the web's /healthz, a worker answering a
   ping, beat's heartbeat, the bridge storing again), the answers the devices got meanwhile
   (acknowledged, 503, refused connections) and the slowest one.
4. At the end: readings acknowledged vs stored (HTTP and MQTT), duplicates, alarms vs hot
   spells, emails in the sink vs deliveries and their Message-IDs.

Targets (the issue): 0 acknowledged readings lost, 0 duplicates, 0 duplicate emails, every part
back within 30 s without a person, 503s rather than hangs while a dependency is down.
"""

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from email import message_from_bytes
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import requests
from celery import Celery
from common import BIN, ROOT, django_env, dotenv, free_port, scratch_database
from ingest import provision

HOT_SPELL = 2000  # readings of a normal, then of a hot spell (HTTP devices)
BATCH = 100  # readings a request


class Supervised:
    """A process started again a second after it exits, as a restart policy does."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.args, self.env, self.logs = name, args, env, logs
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.stopping = False
        self.start()
        threading.Thread(target=self._watch, daemon=True).start()

    def start(self) -> None:
        out = (self.logs / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.starts += 1

    def _watch(self) -> None:
        while not self.stopping:
            time.sleep(0.2)
            if self.proc is not None and self.proc.poll() is not None and not self.stopping:
                time.sleep(1.0)
                self.start()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        """As ``docker stop`` does: SIGTERM to the process itself, which stops its children
        (a Celery worker lets its pool finish the tasks under way), then SIGKILL to whatever of
        its group is left after 20 s."""
        self.stopping = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


class HttpDevices(threading.Thread):
    """Devices posting batches over HTTP in rounds, each request retried until acknowledged."""

    def __init__(self, url: str, tokens: list[str], pause: float) -> None:
        super().__init__(daemon=True)
        self.url, self.tokens, self.pause = url, tokens, pause
        self.running = True
        self.sent = 0  # readings a device has had acknowledged
        self.answers: list[tuple[float, str, float]] = []  # (when, outcome, seconds)

    @property
    def acknowledged_points(self) -> int:
        return self.sent * len(self.tokens) * 3

    @property
    def hot_spells(self) -> int:
        return (self.sent - 1 + HOT_SPELL) // (2 * HOT_SPELL) * len(self.tokens)

    def run(self) -> None:
        session = requests.Session()
        start_ms = int(time.time() * 1000) - 6 * 3600 * 1000
        while self.running:
            for token in self.tokens:
                body = json.dumps([
                    {"ts": start_ms + (self.sent + i) * 10, "values": {
                        "temperature": 90.0 if (self.sent + i) // HOT_SPELL % 2 else 60.0,
                        "pressure": 5.0, "vibration": 2.0}}
                    for i in range(BATCH)
                ])  # fmt: skip
                self._post(session, token, body)
            self.sent += BATCH
            time.sleep(self.pause)

    def _post(self, session: requests.Session, token: str, body: str) -> None:
        while True:
            began = time.monotonic()
            try:
                response = session.post(
                    f"{self.url}/api/v1/ingest", data=body, timeout=30,
                    headers={"Authorization": f"Device {token}"},
                )  # fmt: skip
                ok = response.status_code == 200 and response.json()["rejected"] == 0
                outcome = str(response.status_code)
            except requests.ConnectionError:
                ok, outcome = False, "refused"
            except requests.Timeout:
                ok, outcome = False, "timeout"
            self.answers.append((time.time(), outcome, time.monotonic() - began))
            if ok:
                return
            time.sleep(0.5)


class MqttDevices:
    """Devices publishing one reading a message at QoS 1; counts the broker's PUBACKs."""

    def __init__(self, port: int, tokens: list[str], rate: float) -> None:
        self.acked = Counter[str]()
        self.running = True
        self.clients = []
        for token in tokens:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{token[:8]}")
            client.username_pw_set(token)
            client.on_publish = lambda c, u, mid, rc, p, t=token: self.acked.update([t])
            client.connect("127.0.0.1", port)
            client.loop_start()
            self.clients.append(client)
        self.thread = threading.Thread(target=self._run, args=(rate,), daemon=True)
        self.thread.start()

    def _run(self, rate: float) -> None:
        start_ms = int(time.time() * 1000) - 6 * 3600 * 1000
        n = 0
        while self.running:
            for client in self.clients:
                body = {
                    "ts": start_ms + n * 10,
                    "values": {"temperature": 60.0 + n % 10, "pressure": 5.0, "vibration": 2.0},
                }
                client.publish("v1/devices/me/telemetry", json.dumps(body), qos=1)
            n += 1
            time.sleep(len(self.clients) / rate)

    def stop(self) -> None:
        self.running = False
        self.thread.join()
        time.sleep(2.0)  # the last PUBACKs
        for client in self.clients:
            client.loop_stop()
            client.disconnect()

    @property
    def acknowledged_points(self) -> int:
        return sum(self.acked.values()) * 3


class Stack:
    """The platform's processes on the scratch database, a Redis of its own and the SMTP sink;
    ``worker_args`` and ``worker_env`` extend the Celery worker's command and environment."""

    def __init__(self, database_url: str, work: Path, worker_args: str = "", **worker_env: str):
        self.work, self.logs = work, work / "logs"
        self.logs.mkdir()
        self.conninfo = database_url.replace("postgres://", "postgresql://", 1)
        self.redis_port, self.web_port, self.mqtt_port = free_port(), free_port(), free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.url = f"http://127.0.0.1:{self.web_port}"
        mail_port = free_port()
        (work / "redis").mkdir()
        self.redis_start()
        config = subprocess.run(
            ["bash", "scripts/broker.sh", "config", str(self.mqtt_port),
             str(work / "credentials"), str(work / "broker")],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        (work / "broker").mkdir()
        (work / "credentials").touch()
        (work / "mosquitto.conf").write_text(config)
        self.env = env = django_env(
            database_url, REDIS_URL=self.redis_url, EMAIL_URL=f"smtp://127.0.0.1:{mail_port}",
            MQTT_URL=f"mqtt://127.0.0.1:{self.mqtt_port}",
            MQTT_CREDENTIALS_FILE=str(work / "credentials"), PUBLIC_URL=self.url,
            SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false",
            PYTHONWARNINGS="ignore::UserWarning", LOG_LEVEL="WARNING",
            INGEST_DEVICE_RATE="1000000", INGEST_TENANT_RATE="100000000",
        )  # fmt: skip
        py, celery = str(BIN / "python"), str(BIN / "celery")
        self.box = work / "mail"
        commands = {
            "mail": f"{py} -m iotplatform.devservers.mail_sink --port {mail_port} --dir {self.box}",
            "broker": f"/usr/sbin/mosquitto -c {work / 'mosquitto.conf'}",
            "web": f"{py} -m iotplatform.server --host 127.0.0.1 --port {self.web_port}",
            "worker": f"{celery} -A iotplatform worker --loglevel WARNING --concurrency 2 "
            + worker_args,
            "beat": f"{celery} -A iotplatform beat --loglevel WARNING",
            "evaluator": f"{py} manage.py alerts_evaluate",
            "bridge": f"{py} manage.py mqtt_ingest",
        }  # as `make run` starts them (paths without spaces: tempfile's and the checkout's)
        envs = {"worker": {**env, **worker_env}}
        self.parts = {
            k: Supervised(k, c.split(), envs.get(k, env), self.logs) for k, c in commands.items()
        }
        self.celery = Celery(broker=self.redis_url)

    def redis_start(self) -> None:
        args = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--dir",
                str(self.work / "redis"), "--appendonly", "yes", "--save", "", "--daemonize",
                "yes", "--logfile", str(self.logs / "redis.log")]  # fmt: skip
        subprocess.run(args, check=True)
        until(lambda: self.redis_cli("ping") == "PONG", 10)

    def redis_cli(self, *args: str) -> str:
        done = subprocess.run(["redis-cli", "-p", str(self.redis_port), *args],
                              capture_output=True, text=True)  # fmt: skip
        return done.stdout.strip()

    def stop(self) -> None:
        for part in reversed(self.parts.values()):
            part.stop()
        self.redis_cli("shutdown")

    # --- what "back" means, part by part --------------------------------------------------

    def health(self) -> dict[str, Any]:
        try:
            return dict(requests.get(f"{self.url}/healthz", timeout=2).json())
        except (requests.RequestException, ValueError):
            return {"ok": False}

    def worker_answers(self) -> bool:
        try:
            return bool(self.celery.control.ping(timeout=0.5))
        except Exception:
            return False

    def heartbeat_after(self, since: float) -> bool:
        age = self.health().get("beat", {}).get("last_heartbeat_seconds_ago")
        return age is not None and time.time() - age > since

    def stored(self, serials: list[str]) -> int:
        """Readings stored for these devices."""
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            (n,) = conn.execute(
                "SELECT count(*) FROM telemetry_reading r JOIN devices_device d "
                "ON d.id = r.device_id WHERE d.serial = ANY(%s)", [serials],
            ).fetchone()  # type: ignore[misc]  # fmt: skip
        return int(n)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            return conn.execute(sql).fetchall()


def until(check: Any, timeout: float) -> float | None:
    """Seconds until ``check()`` is true, polled; None when it is not within ``timeout``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        try:
            if check():
                return time.monotonic() - began
        except Exception:  # a dependency still down: not yet
            pass
        time.sleep(0.25)
    return None


SETUP = """
import django; django.setup()
from alerts import rules
from alerts.notify import recipients_install_defaults
from devices.models import DeviceType
from iotplatform.tenancy.models import Tenant
from iotplatform.tenancy.services import user_create
tenant = Tenant.objects.get(slug="bench")
user_create(tenant=tenant, username="bench-admin", role="admin", password="bench-pass-2024",
            email="admin@bench.example")
recipients_install_defaults(tenant=tenant)
rules.rule_create(tenant=tenant, name="pump hot", kind="threshold", metric="temperature",
                  device_type=DeviceType.objects.get(tenant=tenant, name="pump"),
                  threshold=85.0, severity="critical", cooldown_seconds=0)
"""


def _tsdb(*args: str) -> None:
    subprocess.run(["bash", "scripts/timescaledb.sh", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def faults(stack: Stack, database: bool) -> list[tuple[str, Any, float]]:
    """(name, what it does, seconds the service itself is down)."""

    def redis() -> None:
        stack.redis_cli("shutdown")
        time.sleep(3.0)
        stack.redis_start()

    def postgres() -> None:
        _tsdb("stop")
        time.sleep(10.0)
        _tsdb()

    out: list[tuple[str, Any, float]] = [("Redis restarted", redis, 3.0)]
    if database:
        out.append(("PostgreSQL/TimescaleDB stopped and started (pg_ctl)", postgres, 10.0))
    out += [
        ("Celery worker killed (SIGKILL)", lambda: stack.parts["worker"].signal(signal.SIGKILL), 0),
        ("beat restarted (SIGTERM)", lambda: stack.parts["beat"].signal(signal.SIGTERM), 0),
        ("web process restarted (SIGTERM)", lambda: stack.parts["web"].signal(signal.SIGTERM), 0),
        ("MQTT bridge killed (SIGKILL)", lambda: stack.parts["bridge"].signal(signal.SIGKILL), 0),
    ]
    return out


def one_fault(
    stack: Stack, http: HttpDevices, mqtt_serials: list[str], name: str, inject: Any, down: float
) -> dict[str, Any]:
    """Inject the fault; how long until every part is back, and what the devices were told."""
    began = time.time()
    mark = stack.stored(mqtt_serials)
    inject()
    checks = {
        "web": lambda: stack.health()["ok"],
        "ingest": lambda: any(t > began + down and o == "200" for t, o, _ in http.answers[-50:]),
        "worker": stack.worker_answers,
        "bridge": lambda: stack.stored(mqtt_serials) > mark + 1000,
    }
    if "beat" in name or "Redis" in name:
        checks["beat"] = lambda: stack.heartbeat_after(began)
    back = until(lambda: all(check() for check in checks.values()), 60)
    time.sleep(1.0)
    window = [(o, s) for t, o, s in http.answers if t >= began]
    slowest = max(window, key=lambda answer: answer[1], default=("", 0.0))
    return {
        "fault": name,
        "down_s": down,
        "back_s": None if back is None else round(back, 1),
        "answers": dict(Counter(o for o, _ in window)),
        "slowest_s": round(slowest[1], 2),
        "slowest_answer": slowest[0],
    }


def emails_settled(stack: Stack) -> bool:
    """Every delivery sent (or recorded unconfirmed) and as many emails in the sink."""
    rows = stack.query(
        "SELECT count(*) FILTER (WHERE status NOT IN ('sent', 'unconfirmed')), count(*) "
        "FROM alerts_notificationdelivery"
    )
    return rows[0][0] == 0 and len(list(stack.box.glob("*.eml"))) == rows[0][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gap", type=float, default=15.0, help="seconds between faults")
    parser.add_argument("--http-devices", type=int, default=4)
    parser.add_argument("--mqtt-devices", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between HTTP rounds")
    parser.add_argument("--mqtt-rate", type=float, default=400.0, help="messages a second")
    args = parser.parse_args()

    base = dotenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5433/iotplatform")
    # Only a server the project runs itself (scripts/timescaledb.sh) is stopped and started.
    database = f":{os.environ.get('TSDB_PORT', '5433')}/" in base
    database_url = scratch_database(base, "iot_bench_faults")
    work = Path(tempfile.mkdtemp(prefix="iot-bench-faults-"))
    devices = args.http_devices + args.mqtt_devices
    print(f"provisioning {devices} devices in {database_url}; logs in {work} …", file=sys.stderr)
    provision(database_url, devices, work / "tokens.txt")
    subprocess.run([str(BIN / "python"), "-c", SETUP], cwd=ROOT, check=True,
                   env=django_env(database_url))  # fmt: skip
    tokens = (work / "tokens.txt").read_text().split()
    serials = [f"B-{i:05d}" for i in range(devices)]
    http_serials, mqtt_serials = serials[: args.http_devices], serials[args.http_devices :]
    stack = Stack(database_url, work)
    http: HttpDevices | None = None
    mqtt_devices: MqttDevices | None = None
    rows = []
    try:
        assert until(lambda: stack.health()["ok"] and stack.worker_answers(), 60) is not None
        time.sleep(3.0)  # the bridge has written the devices' credentials for the broker
        mqtt_devices = MqttDevices(stack.mqtt_port, tokens[args.http_devices :], args.mqtt_rate)
        http = HttpDevices(stack.url, tokens[: args.http_devices], args.pause)
        http.start()
        load_began = time.monotonic()
        time.sleep(args.gap)
        for name, inject, down in faults(stack, database):
            rows.append(one_fault(stack, http, mqtt_serials, name, inject, down))
            print(f"  {rows[-1]}", file=sys.stderr)
            time.sleep(args.gap)
        http.running = False
        http.join(60)
        mqtt_devices.stop()
        seconds = time.monotonic() - load_began
        expected = {"HTTP": http.acknowledged_points, "MQTT": mqtt_devices.acknowledged_points}
        until(lambda: stack.stored(mqtt_serials) >= expected["MQTT"], 60)
        stored = {"HTTP": stack.stored(http_serials), "MQTT": stack.stored(mqtt_serials)}
        (distinct,) = stack.query(
            "SELECT count(*) - count(DISTINCT (device_id, metric, time)) FROM telemetry_reading"
        )[0]
        until(lambda: emails_settled(stack), 120)
        report(stack, rows, expected, stored, int(distinct), http.hot_spells, seconds)
    finally:
        if http is not None:
            http.running = False
        stack.stop()


def report(
    stack: Stack, rows: list[dict[str, Any]], expected: dict[str, int], stored: dict[str, int],
    duplicates: int, spells: int, seconds: float,
) -> None:  # fmt: skip
    ids = [message_from_bytes(p.read_bytes())["Message-ID"] for p in stack.box.glob("*.eml")]
    statuses = dict(
        stack.query("SELECT status, count(*) FROM alerts_notificationdelivery GROUP BY 1")
    )
    opened = "SELECT count(*) FROM alerts_alarmactivity WHERE action = 'opened'"
    (openings,) = stack.query(opened)[0]
    (untold,) = stack.query(
        "SELECT count(*) FROM alerts_alarmactivity a WHERE action = 'opened' AND NOT EXISTS ("
        "SELECT 1 FROM alerts_notificationdelivery d WHERE d.activity_id = a.id "
        "OR d.activity_ids @> to_jsonb(a.id))"
    )[0]
    restarts = {name: part.starts - 1 for name, part in stack.parts.items()}
    print()
    print(f"Fault benchmark — {os.cpu_count()} cores, one machine; supervisor restarts: {restarts}")
    rates = {k: round(v / seconds) for k, v in expected.items()}
    print(f"  load: {rates['HTTP']:,} points/s over HTTP + {rates['MQTT']:,} over MQTT, "
          f"{seconds:.0f} s")  # fmt: skip
    print(f"  {'fault':<52} {'down':>5} {'back after':>10}  {'slowest':>13}  answers meanwhile")
    for r in rows:
        back = "never" if r["back_s"] is None else f"{r['back_s']:.1f} s"
        slowest = f"{r['slowest_s']:.1f} s ({r['slowest_answer']})"
        print(f"  {r['fault']:<52} {r['down_s']:>4.0f}s {back:>10}  {slowest:>13}  {r['answers']}")
    for transport in ("HTTP", "MQTT"):
        lost = expected[transport] - stored[transport]
        print(
            f"  {transport} readings: acknowledged {expected[transport]:,} stored "
            f"{stored[transport]:,} (lost {max(lost, 0):,}, beyond {max(-lost, 0):,})"
        )
    print(f"  duplicate readings: {duplicates}")
    print(f"  hot spells {spells}, alarms opened {openings}, openings told nobody {untold}")
    print(f"  deliveries {statuses}; emails in the sink {len(ids)}, distinct {len(set(ids))}")
    figures = {
        "faults": rows,
        "expected": expected,
        "stored": stored,
        "duplicates": duplicates,
        "spells": spells,
        "openings": openings,
        "untold": untold,
        "deliveries": statuses,
        "emails": len(ids),
        "distinct_emails": len(set(ids)),
        "restarts": restarts,
    }
    print("JSON " + json.dumps(figures))


if __name__ == "__main__":
    main()
