"""Query benchmark: dashboards on a month of one-second data stay quick.

    .venv/bin/python bench/query.py [--days 30] [--devices 1000] [--runs 30]

1. A scratch database (``iot_bench_query``) gets one device with ``--days`` of one-second
   readings of one metric (2.6 M rows for 30 days), written through the real ingest writer, so
   the rollups are kept exactly as ingestion keeps them; and ``--devices`` devices with a
   newest value for each of five metrics.
2. Through uvicorn and the REST API (HTTP round trip included), timed over ``--runs`` runs:
   - the device's series over the whole range, bucketed to at most 2,000 points;
   - the same over the last day and the last hour (finer buckets, other sources);
   - the latest value of every metric of every device of the tenant;
   - the device page's statistics (exact percentiles, histogram, KDE) over a day, a week and
     the month, and the anomaly explorer's rolling z-score over a day and a week;
   - the dashboard's fleet summary.
3. Raw baselines in the same run: the same month bucketed straight from the raw readings, and
   the latest values by ``DISTINCT ON`` over the readings, timed in the database alone.
"""

import argparse
import http.cookiejar
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from common import BIN, ROOT, django_env, dotenv, scratch_database, uvicorn

TARGET_SERIES_MS = 150
TARGET_LATEST_MS = 100


def load(database_url: str, days: int, devices: int) -> None:
    code = f"""
import django, time; django.setup()
from datetime import UTC, datetime, timedelta
from django.db import connection
from iotplatform.tenancy.services import tenant_create, user_create
from devices.services import device_create, device_types_install_catalog
from telemetry.ingest.writer import write_sync
tenant = tenant_create(slug="bench", name="Bench")
user_create(tenant=tenant, username="bench", password="bench-password-1", check_password=False)
types = {{t.name: t for t in device_types_install_catalog(tenant=tenant)}}
main, _ = device_create(tenant=tenant, device_type=types["pump"], name="Month", serial="M-1")
others = [device_create(tenant=tenant, device_type=types["motor"], name=f"Motor {{i}}",
                        serial=f"O-{{i:05d}}")[0] for i in range({devices} - 1)]
connection.ensure_connection()
pg = connection.connection
end = datetime.now(UTC).replace(microsecond=0)
start = end - timedelta(days={days})
seconds = int((end - start).total_seconds())
began = time.perf_counter()
for first in range(0, seconds, 50_000):
    rows = [(start + timedelta(seconds=s), tenant.id, main.id, "temperature",
             60.0 + (s % 3600) / 360 + (s % 7) / 10)
            for s in range(first, min(first + 50_000, seconds))]
    with pg.transaction():
        write_sync(pg, rows)
rows = [(end, tenant.id, d.id, m, 1.0) for d in [main, *others]
        for m in ("temperature", "vibration", "speed", "current", "voltage")]
with pg.transaction():
    write_sync(pg, rows)
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
print(f"loaded {{seconds:,}} readings in {{time.perf_counter() - began:.0f}} s", flush=True)
"""
    env = django_env(database_url)
    subprocess.run(
        [str(BIN / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=env
    )
    subprocess.run([str(BIN / "python"), "-c", code], cwd=ROOT, check=True, env=env)


def timed(fn: Any, runs: int) -> dict[str, float]:
    fn()  # warm
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return {
        "p50": statistics.median(samples),
        "p95": samples[int(len(samples) * 0.95) - 1],
        "max": samples[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    database_url = scratch_database(
        dotenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5433/iotplatform"),
        "iot_bench_query",
    )
    conninfo = database_url.replace("postgres://", "postgresql://", 1)
    print(f"loading {args.days} days of 1 s data into {database_url} …", file=sys.stderr)
    load(database_url, args.days, args.devices)

    with psycopg.connect(conninfo) as conn:
        device_id, tenant_id, end = conn.execute(
            "SELECT id, tenant_id, (SELECT max(time) FROM telemetry_reading) FROM devices_device "
            "WHERE serial = 'M-1'"
        ).fetchone()  # type: ignore[misc]
        rows = conn.execute("SELECT count(*) FROM telemetry_reading").fetchone()[0]  # type: ignore[index]
    start = end - timedelta(days=args.days)

    # A signed-in session, as the pages use: HTTP Basic would hash the password (PBKDF2, about
    # a quarter of a second by design) on every request.
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))

    def login() -> None:
        opener.open(f"{url}/accounts/login/", timeout=30).read()
        token = next(c.value for c in cookies if c.name == "csrftoken")
        data = urllib.parse.urlencode(
            {"username": "bench", "password": "bench-password-1", "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(
            f"{url}/accounts/login/", data=data, headers={"Referer": f"{url}/accounts/login/"}
        )
        opener.open(request, timeout=30).read()
        assert any(c.name == "sessionid" for c in cookies), "login failed"

    def get(path: str) -> bytes:
        with opener.open(url + path, timeout=30) as response:
            assert response.status == 200
            return bytes(response.read())

    def iso(when: datetime) -> str:
        return when.astimezone(UTC).isoformat().replace("+00:00", "Z")

    results: dict[str, dict[str, float]] = {}
    with uvicorn(database_url) as url:
        login()

        month = (
            f"/api/v1/devices/{device_id}/series?metrics=temperature&points=2000"
            f"&start={iso(start)}&end={iso(end)}"
        )
        body = json.loads(get(month))
        points = len(body["series"]["temperature"]["t"])
        results["month"] = timed(lambda: get(month), args.runs)
        day = (
            f"/api/v1/devices/{device_id}/series?metrics=temperature&points=2000"
            f"&start={iso(end - timedelta(days=1))}&end={iso(end)}"
        )
        day_body = json.loads(get(day))
        results["day"] = timed(lambda: get(day), args.runs)
        hour = (
            f"/api/v1/devices/{device_id}/series?metrics=temperature&points=2000"
            f"&start={iso(end - timedelta(hours=1))}&end={iso(end)}"
        )
        hour_body = json.loads(get(hour))
        results["hour"] = timed(lambda: get(hour), args.runs)
        latest_count = sum(
            len(v) for v in json.loads(get("/api/v1/telemetry/latest"))["devices"].values()
        )
        results["latest"] = timed(lambda: get("/api/v1/telemetry/latest"), args.runs)
        few = max(3, args.runs // 6)
        for label, span in (("day", timedelta(days=1)), ("week", timedelta(days=7))):
            window = f"start={iso(end - span)}&end={iso(end)}"
            stats_path = f"/api/v1/devices/{device_id}/statistics?metrics=temperature&{window}"
            results[f"stats_{label}"] = timed(lambda p=stats_path: get(p), few)
            z_path = (
                f"/api/v1/devices/{device_id}/anomalies?metric=temperature&method=zscore"
                f"&window=60&threshold=4&{window}"
            )
            results[f"zscore_{label}"] = timed(lambda p=z_path: get(p), few)
        stats_month = (
            f"/api/v1/devices/{device_id}/statistics?metrics=temperature"
            f"&start={iso(start)}&end={iso(end)}"
        )
        results["stats_month"] = timed(lambda: get(stats_month), few)
        results["summary"] = timed(lambda: get("/api/v1/telemetry/summary"), args.runs)

    with psycopg.connect(conninfo) as conn:

        def raw_month() -> None:
            conn.execute(
                "SELECT time_bucket(INTERVAL '30 minutes', time), min(value), avg(value), "
                "max(value), count(*) FROM telemetry_reading WHERE device_id = %s AND "
                "metric = 'temperature' AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1",
                [device_id, start, end],
            ).fetchall()

        def raw_latest() -> None:
            conn.execute(
                "SELECT DISTINCT ON (device_id, metric) device_id, metric, time, value "
                "FROM telemetry_reading WHERE tenant_id = %s "
                "ORDER BY device_id, metric, time DESC",
                [tenant_id],
            ).fetchall()

        results["raw_month"] = timed(raw_month, max(5, args.runs // 5))
        results["raw_latest"] = timed(raw_latest, max(5, args.runs // 5))

    def line(label: str, key: str, note: str) -> str:
        r = results[key]
        return f"  {label:<46} p50 {r['p50']:7.1f} ms   p95 {r['p95']:7.1f} ms   {note}"

    print()
    print(
        f"query benchmark — {os.cpu_count()} cores, {rows:,} readings "
        f"({args.days} days of 1 s data for one device), {args.devices} devices, "
        f"{args.runs} runs, through uvicorn + the REST API"
    )
    print(
        line(
            f"month bucketed to {points} points ({body['bucket']})",
            "month",
            f"from {body['table']}; target ≤ {TARGET_SERIES_MS} ms",
        )
    )
    print(
        line(
            f"last day, {len(day_body['series']['temperature']['t'])} points "
            f"({day_body['bucket']})",
            "day",
            f"from {day_body['table']}",
        )
    )
    print(
        line(
            f"last hour, {len(hour_body['series']['temperature']['t'])} points "
            f"({hour_body['bucket']})",
            "hour",
            f"from {hour_body['table']}",
        )
    )
    print(
        line(
            f"latest values, {args.devices} devices ({latest_count} values)",
            "latest",
            f"target ≤ {TARGET_LATEST_MS} ms",
        )
    )
    print(
        line(
            "raw baseline: month bucketed from readings",
            "raw_month",
            f"in the database alone; API month is "
            f"{results['raw_month']['p50'] / results['month']['p50']:.0f}x faster",
        )
    )
    print(
        line(
            "raw baseline: latest by DISTINCT ON",
            "raw_latest",
            f"in the database alone; API latest is "
            f"{results['raw_latest']['p50'] / results['latest']['p50']:.0f}x faster",
        )
    )
    for label, key in (
        ("statistics + histogram + KDE, last day", "stats_day"),
        ("statistics + histogram + KDE, last week", "stats_week"),
        ("statistics + histogram + KDE, whole month", "stats_month"),
        ("explorer rolling z-score (60), last day", "zscore_day"),
        ("explorer rolling z-score (60), last week", "zscore_week"),
    ):
        print(line(label, key, "exact, from the raw readings"))
    print(line(f"dashboard fleet summary, {args.devices} devices", "summary", ""))
    print("JSON " + json.dumps({"rows": rows, "points": points, **results}))
    ok = (
        results["month"]["p50"] <= TARGET_SERIES_MS and results["latest"]["p50"] <= TARGET_LATEST_MS
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
