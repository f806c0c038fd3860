"""Alerts benchmark: a reading past a rule's level → the alarm on an open Alerts page, and → the
alarm email accepted by the SMTP server, while ingestion runs at full speed.

    .venv/bin/python bench/alerts.py [--samples 40] [--devices 1000] [--workers 2]

1. A scratch database (``iot_bench_alerts``) and Redis database 5: a busy tenant (``--devices``
   pumps with the default rules) and a watched tenant whose operator gets the alarm emails; one
   rule on the watched pump: temperature above 85 °C, clearing at 80, critical, no hold.
2. The platform as `make run` runs it: uvicorn (``--workers``), the rule evaluator
   (``manage.py alerts_evaluate``), a Celery worker, the local SMTP sink; Chromium (Playwright)
   signed in as the operator with the Alerts page open.
3. Meanwhile wrk posts batches of readings for the busy tenant's pumps at full speed (the rule
   stream carries them to the evaluator too).
4. ``--samples`` times: 90 °C is POSTed for the watched pump; the page notes when the new alarm
   arrives (its row is inserted in the same handler), the sink when the email is stored (its
   file's time; same machine, same clock). Then 70 °C clears the alarm before the next sample.
   Storm digests are off (``ALERTS_STORM_LIMIT``): this measures the single-alarm path.
5. Baselines in the same run: the POST's own round trip, and the ingest rate wrk achieved.

Targets: page p95 ≤ 1 s, email p95 ≤ 5 s.
"""

import argparse
import email
import email.policy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from common import BIN, ROOT, django_env, dotenv, ensure_wrk, scratch_database, uvicorn
from ingest import BATCH_ITEMS, provision, run_wrk

TARGET_PAGE_MS = 1000
TARGET_EMAIL_MS = 5000
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
PASSWORD = "bench-password-1"
SETUP = """
import django, json; django.setup()
from alerts import rules
from iotplatform.tenancy.services import tenant_create, user_create
from devices.services import device_create, device_types_install_catalog
tenant = tenant_create(slug="watched", name="Watched plant")
user, _ = user_create(tenant=tenant, username="oscar", role="operator", password=PASSWORD,
                      check_password=False)
user.email = "oscar@watched.example"
user.save()
pump_type = next(t for t in device_types_install_catalog(tenant=tenant) if t.name == "pump")
pump, token = device_create(tenant=tenant, device_type=pump_type, name="Watched pump", serial="W-1")
rules.rule_create(tenant=tenant, name="Bench hot", device=pump, kind="threshold",
                  metric="temperature", threshold=85.0, clear_threshold=80.0,
                  severity="critical", cooldown_seconds=0)
print("JSON" + json.dumps({"device": pump.id, "token": token}))
"""
WATCH = """() => {
  window.opened = [];
  IoTLive.on(IoTLive.events.ALARM, function (a) {
    if (a.action === "opened" || a.action === "reopened") window.opened.push([a.alarm, Date.now()]);
  });
}"""


def redis_url() -> str:
    parts = urlsplit(dotenv("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return urlunsplit(parts._replace(path="/5"))


@contextmanager
def process(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Any:
    with (log_dir / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)


def post(url: str, token: str, value: float) -> float:
    request = urllib.request.Request(
        f"{url}/api/v1/ingest",
        data=json.dumps({"temperature": value}).encode(),
        headers={"Authorization": f"Device {token}", "Content-Type": "application/json"},
    )
    sent = time.time() * 1000
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.read()
    return sent


def until(page: Any, expression: str, seconds: float) -> None:
    """Poll ``expression`` in the page (the CSP forbids Playwright's wait_for_function)."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.005)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def new_mail(box: Path, seen: set[str]) -> float | None:
    """The time (ms) the sink stored the first new "opened" alarm email, if there is one."""
    for path in sorted(box.glob("*.eml")):
        if path.name in seen:
            continue
        seen.add(path.name)
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(message["Subject"]).endswith(": opened"):
            return path.stat().st_mtime_ns / 1e6
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    wrk = ensure_wrk()
    database_url = scratch_database(
        dotenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5433/iotplatform"),
        "iot_bench_alerts",
    )
    work = Path(tempfile.mkdtemp(prefix="iot-bench-alerts-"))
    box = work / "mail"
    tokens_file = work / "tokens.txt"
    print(f"provisioning {args.devices} busy devices in {database_url} …", file=sys.stderr)
    provision(database_url, args.devices, tokens_file)
    out = subprocess.run(
        [str(BIN / "python"), "-c", SETUP.replace("PASSWORD", repr(PASSWORD))],
        cwd=ROOT,
        check=True,
        env=django_env(database_url),
        capture_output=True,
    ).stdout.decode()
    fixture = json.loads(next(x for x in out.splitlines() if x.startswith("JSON"))[4:])
    subprocess.run(
        [str(BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        check=True,
        env=django_env(database_url),
    )
    mail_port = 18900 + os.getpid() % 90
    extra = {
        "REDIS_URL": redis_url(),
        "EMAIL_URL": f"smtp://127.0.0.1:{mail_port}",
        "ALERTS_STORM_LIMIT": "1000000",
        "INGEST_TENANT_RATE": "100000000",
        "INGEST_DEVICE_RATE": "100000",
        "PUBLIC_URL": "http://127.0.0.1",
    }
    env = django_env(database_url, **extra)
    import redis

    redis.Redis.from_url(extra["REDIS_URL"]).flushdb()
    page_ms: list[float] = []
    mail_ms: list[float] = []
    posts: list[float] = []
    load: dict[str, Any] = {}
    with ExitStack() as stack:
        stack.enter_context(
            process(
                "mail",
                [
                    str(BIN / "python"),
                    "-m",
                    "iotplatform.devservers.mail_sink",
                    "--port",
                    str(mail_port),
                    "--dir",
                    str(box),
                ],
                env,
                work,
            )
        )
        stack.enter_context(
            process("alerts", [str(BIN / "python"), "manage.py", "alerts_evaluate"], env, work)
        )
        stack.enter_context(
            process(
                "worker",
                [
                    str(BIN / "celery"),
                    "-A",
                    "iotplatform",
                    "worker",
                    "--concurrency",
                    "1",
                    "--loglevel",
                    "WARNING",
                ],
                env,
                work,
            )
        )
        url = stack.enter_context(uvicorn(database_url, workers=args.workers, **extra))
        p = stack.enter_context(sync_playwright())
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/accounts/login/")
        page.fill("#id_username", "oscar")
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(lambda u: "/accounts/login/" not in u)
        page.goto(f"{url}/alerts/")
        until(page, "document.getElementById('live-state').dataset.state === 'live'", 30)
        page.evaluate(WATCH)
        post(url, fixture["token"], 70.0)
        time.sleep(6)  # the ingest processes learn the rule's metric (ALERTS_RULES_REFRESH)
        seconds = int(args.samples * 2.5) + 10

        def background() -> None:
            load.update(
                run_wrk(
                    wrk,
                    url,
                    threads=1,
                    connections=4,
                    seconds=seconds,
                    tokens_file=tokens_file,
                    items=BATCH_ITEMS,
                    metrics=5,
                )
            )

        loader = threading.Thread(target=background)
        loader.start()
        time.sleep(2)
        seen: set[str] = set()
        for i in range(args.samples):
            count = page.evaluate("window.opened.length")
            sent = post(url, fixture["token"], 90.0 + i / 1000)
            posts.append(time.time() * 1000 - sent)
            until(page, f"window.opened.length > {count}", 15)
            page_ms.append(page.evaluate("window.opened[window.opened.length - 1][1]") - sent)
            deadline = time.monotonic() + 20
            stored = None
            while stored is None and time.monotonic() < deadline:
                stored = new_mail(box, seen)
                if stored is None:
                    time.sleep(0.02)
            if stored is None:
                raise SystemExit(f"sample {i}: no email within 20 s (see {work}/*.log)")
            mail_ms.append(stored - sent)
            post(url, fixture["token"], 70.0)
            time.sleep(0.5)
        loader.join()
        browser.close()

    ratio = statistics.median(page_ms) / statistics.median(posts)

    def line(name: str, samples: list[float], target: float) -> str:
        return (
            f"  {name:<42} p50 {statistics.median(samples):7.0f} ms   "
            f"p95 {percentile(samples, 0.95):7.0f} ms   max {max(samples):7.0f} ms   "
            f"target p95 ≤ {target:.0f} ms"
        )

    print()
    print(
        f"alerts benchmark — {os.cpu_count()} cores, uvicorn x{args.workers}, "
        f"{args.samples} alarms, evaluator + Celery worker + SMTP sink + headless Chromium"
    )
    print(line("reading POSTed → alarm on the open page", page_ms, TARGET_PAGE_MS))
    print(line("reading POSTed → email stored by the SMTP sink", mail_ms, TARGET_EMAIL_MS))
    print(
        f"  baseline: the POST's own round trip          p50 {statistics.median(posts):7.1f} ms"
        f"   p95 {percentile(posts, 0.95):7.1f} ms"
    )
    print(
        f"  under ingestion of {load.get('points_per_s', 0):,.0f} points/s (wrk, batches of "
        f"{BATCH_ITEMS} readings x 5 metrics, {args.devices} pumps of another tenant with the "
        f"default rules); the page latency is {ratio:.1f}x the POST's at p50"
    )
    result = {
        "page_p50": statistics.median(page_ms),
        "page_p95": percentile(page_ms, 0.95),
        "email_p50": statistics.median(mail_ms),
        "email_p95": percentile(mail_ms, 0.95),
        "post_p50": statistics.median(posts),
        "ingest_points_per_s": load.get("points_per_s"),
    }
    print("JSON " + json.dumps(result))
    ok = result["page_p95"] <= TARGET_PAGE_MS and result["email_p95"] <= TARGET_EMAIL_MS
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
