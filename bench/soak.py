"""Soak: an hour of the whole platform under the simulated plant, watched for growth.

    .venv/bin/python bench/soak.py [--minutes 60] [--warmup 10] [--devices 2500] [--interval 2]
                                   [--trace-memory]  (the worker's pool: bench/memtrace.py)

1. A scratch database (``iot_bench_soak``) set up as `make run` does (``demo_setup``: the demo
   tenants, Acme's simulated fleet of ``--devices`` with ``--history-hours`` of history, the
   models trained from it by the worker); the platform's processes as in ``bench/faults.py``
   (web, Celery worker, beat, alert evaluator, MQTT bridge, broker, SMTP sink, on a Redis of
   its own) plus the simulator supervisor, which runs the fleet reporting every ``--interval``
   seconds over HTTP, each device with its own token (about 5,000 points/s with the defaults).
2. Headless Chromium (Playwright) signed in as Acme's viewer with the live pages open the whole
   time: the dashboard, a device page and the Alerts page. The analytics apply cycle runs every
   minute from beat, as in production.
3. Every minute: the resident memory (RSS) of each part (a part's whole process group: uvicorn's
   or Celery's children included), the p99 of a probe device's ingest requests (one reading every
   100 ms, timed round trip), the readings stored that minute and the database's size.
4. At the end: each part's RSS growth from the end of the warm-up to the end (mean of three
   samples each) and its least-squares slope an hour after the warm-up (the Celery worker also
   split into its own process and its pool's), the error lines in every log, and the minutes
   as a CSV (``soak.csv`` in the work directory; the README shows it as a table). Target (the
   issue): RSS growth under 5 % after warm-up, no error in the logs.
"""

import argparse
import csv
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import requests
from common import BIN, ROOT, django_env, dotenv, scratch_database
from faults import Stack, Supervised, until

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
PASSWORD = "soak-pass-2024"
PAGE = os.sysconf("SC_PAGE_SIZE")


def browse(url: str, seconds: float) -> None:
    """``--browse`` mode (a process of its own): the live pages open for ``seconds``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{url}/accounts/login/")
        page.fill("#id_username", "acme-viewer")
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(lambda u: "/accounts/login/" not in u)
        device = page.evaluate("fetch('/api/v1/devices').then(r => r.json())")["results"][0]
        pages = [page]
        for path in (f"/devices/{device['id']}/", "/alerts/"):
            pages.append(context.new_page())
            pages[-1].goto(f"{url}{path}")
        print("BROWSING", flush=True)
        pages[0].wait_for_timeout(seconds * 1000)
        browser.close()


def processes() -> list[tuple[int, int, int]]:
    """(pid, process group, RSS in bytes) of every process of the machine."""
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out.append((int(entry.name), int(fields[2]), int(fields[21]) * PAGE))
    return out


def process_groups(every: list[tuple[int, int, int]]) -> dict[int, int]:
    """RSS in bytes per process group."""
    out: dict[int, int] = {}
    for _, pgid, rss in every:
        out[pgid] = out.get(pgid, 0) + rss
    return out


def simulator_groups() -> list[int]:
    """The process groups of the simulator runs the supervisor started (sessions of their own)."""
    groups = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes().split(b"\0")
                stat = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if b"simulator" in cmdline and b"run" in cmdline:
                groups.append(int(stat[2]))
    return groups


class Probe(threading.Thread):
    """A device of its own posting one reading every 100 ms; its round trips, timed."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.samples: list[float] = []  # milliseconds, since the last take()
        self.failures = 0
        self.running = True

    def run(self) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Device {self.token}"}
        while self.running:
            began = time.perf_counter()
            try:
                ok = session.post(f"{self.url}/api/v1/ingest", headers=headers, timeout=30,
                                  json={"temperature": 60.0}).ok  # fmt: skip
            except requests.RequestException:
                ok = False
            if ok:
                self.samples.append((time.perf_counter() - began) * 1000)
            else:
                self.failures += 1
            time.sleep(0.1)

    def take(self) -> list[float]:
        samples, self.samples = self.samples, []
        return samples


SETUP = """
import django; django.setup()
from devices.models import DeviceType, SimulatedFleet
from devices.services import device_create
from iotplatform.tenancy.models import Tenant
acme = Tenant.objects.get(slug="acme")
SimulatedFleet.objects.filter(tenant=acme).update(interval_seconds={interval},
                                                  transport="{transport}")
device, token = device_create(tenant=acme, name="Soak probe", serial="SOAK-PROBE",
                              device_type=DeviceType.objects.get(tenant=acme, name="pump"))
print(token)
"""


def errors_in(log: Path) -> list[str]:
    pattern = re.compile(r"\b(ERROR|CRITICAL)\b|^Traceback")
    return [line for line in log.read_text(errors="replace").splitlines() if pattern.search(line)]


def stored_so_far(conninfo: str) -> int:
    """Rows inserted into the readings hypertable's chunks (statistics: no scan of the table)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(s.n_tup_ins), 0) FROM pg_stat_user_tables s "
            "JOIN _timescaledb_catalog.chunk c ON c.schema_name = s.schemaname "
            "AND c.table_name = s.relname JOIN _timescaledb_catalog.hypertable h "
            "ON h.id = c.hypertable_id WHERE h.table_name = 'telemetry_reading'"
        ).fetchone()
    return int(row[0]) if row else 0


def database_mib(conninfo: str) -> float:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) / 2**20 if row else 0.0


def sample(stack: Stack, groups: dict[str, int]) -> dict[str, float]:
    """RSS (MiB) of each part: its process group, the simulator runs' and Redis's."""
    every = processes()
    rss = process_groups(every)
    out = {}
    for name, part in stack.parts.items():
        assert part.proc is not None
        out[name] = rss.get(part.proc.pid, 0) / 2**20
    # The worker's own process apart from its pool's (they take turns at the tasks).
    worker = stack.parts["worker"].proc
    assert worker is not None
    out["worker_main"] = sum(r for pid, _, r in every if pid == worker.pid) / 2**20
    out["worker_pool"] = out["worker"] - out["worker_main"]
    out["simulator"] = sum(rss.get(g, 0) for g in set(simulator_groups())) / 2**20
    for name, group in groups.items():
        out[name] = rss.get(group, 0) / 2**20
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10, help="minutes before growth counts")
    parser.add_argument("--devices", type=int, default=2500)
    parser.add_argument("--interval", type=int, default=2, help="seconds between readings")
    parser.add_argument("--history-hours", type=int, default=2)
    parser.add_argument("--transport", choices=["mqtt", "http"], default="mqtt")
    parser.add_argument(
        "--trace-memory", action="store_true",
        help="the worker's pool processes record their memory by kind (bench/memtrace.py)",
    )  # fmt: skip
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stopped: the finally cleans up

    database_url = scratch_database(
        dotenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5433/iotplatform"), "iot_bench_soak"
    )
    conninfo = database_url.replace("postgres://", "postgresql://", 1)
    work = Path(tempfile.mkdtemp(prefix="iot-bench-soak-"))
    print(f"soak in {database_url}; logs in {work}", file=sys.stderr)
    py = str(BIN / "python")
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True,
                   env=django_env(database_url))  # fmt: skip
    traced: dict[str, str] = {}
    if args.trace_memory:
        traced = {"worker_args": "--include memtrace", "PYTHONPATH": str(ROOT / "bench"),
                  "IOT_MEMTRACE_DIR": str(work / "memtrace")}  # fmt: skip
    stack = Stack(database_url, work, **traced)
    browser: subprocess.Popen[str] | None = None
    probe: Probe | None = None
    try:
        assert until(lambda: stack.health()["ok"] and stack.worker_answers(), 60) is not None
        subprocess.run(
            [py, "manage.py", "demo_setup", "--password", PASSWORD, "--simulate",
             str(args.devices), "--history-hours", str(args.history_hours), "--state-dir",
             str(work / "sim")], cwd=ROOT, check=True, env=stack.env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        token = subprocess.run(
            [py, "-c", SETUP.format(interval=args.interval, transport=args.transport)],
            cwd=ROOT, check=True, env=stack.env, capture_output=True, text=True,
        ).stdout.split()[-1]  # fmt: skip
        supervise = (
            f"{py} manage.py simulator_supervise --url {stack.url} --state-dir {work / 'sim'}"
        )
        stack.parts["simulators"] = Supervised(
            "simulators", supervise.split(), stack.env, stack.logs
        )
        seconds = args.minutes * 60 + 120
        browser = subprocess.Popen(
            [py, __file__, "--browse", stack.url, str(seconds)], cwd=ROOT / "bench",
            stdout=subprocess.PIPE, stderr=(stack.logs / "browser.log").open("w"), text=True,
            start_new_session=True,
        )  # fmt: skip
        assert browser.stdout is not None and "BROWSING" in browser.stdout.readline()
        redis_pid = int(stack.redis_cli("info", "server").split("process_id:")[1].split()[0])
        groups = {"redis": os.getpgid(redis_pid), "browser": browser.pid}
        probe = Probe(stack.url, token)
        probe.start()
        rows = run_minutes(stack, probe, groups, conninfo, args.minutes)
    finally:
        if probe is not None:
            probe.running = False
        if browser is not None and browser.poll() is None:
            os.killpg(browser.pid, 15)
        stack.stop()
    report(stack, rows, args.warmup, work)


def run_minutes(
    stack: Stack, probe: Probe, groups: dict[str, int], conninfo: str, minutes: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    previous = stored_so_far(conninfo)
    began = time.monotonic()
    for minute in range(1, minutes + 1):
        time.sleep(max(0.0, began + 60 * minute - time.monotonic()))
        latencies = sorted(probe.take())
        stored = stored_so_far(conninfo)
        p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan")
        row = {
            "minute": minute,
            "points_per_s": round((stored - previous) / 60),
            "p99_ms": round(p99, 1),
            "p50_ms": round(statistics.median(latencies or [0]), 1),
            "probe_failures": probe.failures,
            "database_mib": round(database_mib(conninfo)),
        }
        row.update({f"{k}_mib": round(v, 1) for k, v in sample(stack, groups).items()})
        previous = stored
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def hourly_slope(minutes: list[int], values: list[float]) -> float:
    """The least-squares line's rise an hour, as a share of the mean: a part whose memory moves
    with what it holds (Redis) has a noisy three-sample growth but no trend."""
    mean_m, mean_v = statistics.mean(minutes), statistics.mean(values)
    spread = sum((m - mean_m) ** 2 for m in minutes)
    if not spread or not mean_v:
        return 0.0
    rise = sum((m - mean_m) * (v - mean_v) for m, v in zip(minutes, values, strict=True)) / spread
    return 60 * rise / mean_v


def report(stack: Stack, rows: list[dict[str, Any]], warmup: int, work: Path) -> None:
    if not rows:
        return
    with (work / "soak.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    parts = [k for k in rows[0] if k.endswith("_mib") and k != "database_mib"]
    after = [r for r in rows if r["minute"] > warmup]
    print()
    print(f"Soak — {os.cpu_count()} cores, {len(rows)} minutes (warm-up {warmup}); CSV: "
          f"{work / 'soak.csv'}")  # fmt: skip
    print(f"  ingest: {statistics.mean(r['points_per_s'] for r in rows):,.0f} points/s on average;"
          f" probe p99 by minute: max {max(r['p99_ms'] for r in rows):.0f} ms, median "
          f"{statistics.median(r['p99_ms'] for r in rows):.0f} ms; probe failures "
          f"{rows[-1]['probe_failures']}; database {rows[0]['database_mib']:,} → "
          f"{rows[-1]['database_mib']:,} MiB")  # fmt: skip
    growth = {}
    for part in parts:
        if len(after) >= 6:
            start = statistics.mean(r[part] for r in after[:3])
            end = statistics.mean(r[part] for r in after[-3:])
            growth[part[:-4]] = (end - start) / start if start else 0.0
            change = growth[part[:-4]]
            slope = hourly_slope([r["minute"] for r in after], [r[part] for r in after])
            print(f"  {part[:-4]:<12} RSS {start:8.1f} → {end:8.1f} MiB  growth {change:+.1%}"
                  f"  (least-squares slope {slope:+.1%} an hour)")  # fmt: skip
    logs = [*sorted(stack.logs.glob("*.log")), *sorted(work.glob("sim/*/simulator.log"))]
    errors = {log.stem: errors_in(log) for log in logs}
    for name, lines in errors.items():
        print(
            f"  errors in {name}.log: {len(lines)}"
            + (f" — first: {lines[0][:160]}" if lines else "")
        )
    print("JSON " + json.dumps({"rows": rows, "growth": growth,
                               "errors": {k: len(v) for k, v in errors.items()}}))  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--browse"]:
        browse(sys.argv[2], float(sys.argv[3]))
    else:
        main()
