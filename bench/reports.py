"""Report benchmark: a month of one-minute buckets for a thousand devices, streamed.

    .venv/bin/python bench/reports.py [--devices 1000] [--metrics 1] [--period month]

1. A scratch database (``iot_bench_reports``) gets a tenant in Europe/Berlin with ``--devices``
   pumps and, for each, a minute rollup row per metric for every minute of November 2026 (the
   rows ingestion leaves: 43.2 M for 1,000 devices and one metric), written by the database.
2. A monthly report schedule (all devices: the summary and the readings per minute) is produced
   the way beat's worker produces it (``run_make``) in a fresh process, timed, with the peak
   memory of that process (``ru_maxrss``) before and after. The same for ten devices, so the
   two peaks show whether memory grows with the report.
3. Raw baseline in the same run: the same rollup rows copied out of the database by a bare
   connection in whatever order they lie and thrown away (``COPY … TO STDOUT``, no time
   formatting, no device labels, no zip): the least any report of them could take.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import psycopg
from common import BIN, ROOT, django_env, dotenv, scratch_database

STORAGE = ROOT / ".reports-bench"
METRICS = ("temperature", "vibration", "pressure", "flow", "current")
PERIOD_AT = {"month": "2026-12-01T07:00", "week": "2026-11-30T07:00", "day": "2026-11-30T07:00"}


def load(database_url: str, devices: int, metrics: int, period: str) -> dict[str, Any]:
    code = f"""
import django, json, time; django.setup()
from datetime import datetime, time as clock
from zoneinfo import ZoneInfo
from django.db import connection
from alerts.reports import period_for, schedule_save
from devices.services import device_create, device_types_install_catalog
from iotplatform.tenancy.services import tenant_create
tenant = tenant_create(slug="bench", name="Bench", timezone="Europe/Berlin")
pump = next(t for t in device_types_install_catalog(tenant=tenant) if t.name == "pump")
made = [device_create(tenant=tenant, device_type=pump, name=f"Pump {{i:04d}}",
                      serial=f"P-{{i:04d}}")[0] for i in range({devices})]
common = dict(frequency="{
        "monthly" if period == "month" else "weekly" if period == "week" else "daily"
    }", at=clock(7), sections=["summary", "readings"],
              bucket="1m", metrics={list(METRICS[:metrics])!r}, emails=["plant@bench.example"])
if common["frequency"] == "monthly":
    common["day_of_month"] = 1
if common["frequency"] == "weekly":
    common["weekday"] = 0
whole = schedule_save(tenant=tenant, name="Whole fleet", **common)
small = schedule_save(tenant=tenant, name="Ten pumps", scope="list", devices=made[:10], **common)
at = datetime.fromisoformat("{PERIOD_AT[period]}").replace(tzinfo=ZoneInfo("Europe/Berlin"))
start, end = period_for(whole, at=at, tz="Europe/Berlin")
began = time.perf_counter()
with connection.cursor() as cursor:
    # As a bulk load does: the secondary indexes built once at the end, the rows in time order.
    cursor.execute("DROP INDEX rollup_1m_tenant_metric")
    cursor.execute("DROP INDEX telemetry_rollup_1m_bucket_idx")
    for first in range(0, len(made), 250):
        cursor.execute(
            "INSERT INTO telemetry_rollup_1m (device_id, metric, bucket, tenant_id, count, sum, "
            "min, max) SELECT d, m, b, %s, 6, 6 * (60 + d %% 17 + extract(minute FROM b) / 10), "
            "55 + d %% 17, 70 + d %% 17 FROM generate_series(%s::timestamptz, "
            "%s::timestamptz - interval '1 minute', interval '1 minute') b "
            "CROSS JOIN unnest(%s::int8[]) d CROSS JOIN unnest(%s::text[]) m",
            [tenant.id, start, end, [d.id for d in made[first:first + 250]],
             {list(METRICS[:metrics])!r}],
        )
    cursor.execute("CREATE INDEX rollup_1m_tenant_metric ON telemetry_rollup_1m "
                   "(tenant_id, metric, bucket)")
    cursor.execute("CREATE INDEX telemetry_rollup_1m_bucket_idx ON telemetry_rollup_1m "
                   "(bucket DESC)")
    cursor.execute("ANALYZE telemetry_rollup_1m")
print(json.dumps({{"tenant": tenant.id, "whole": whole.pk, "small": small.pk,
                  "at": at.isoformat(), "start": start.isoformat(), "end": end.isoformat(),
                  "load_s": time.perf_counter() - began}}))
"""
    env = django_env(database_url, REPORT_STORAGE_DIR=str(STORAGE))
    subprocess.run(
        [str(BIN / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=env
    )
    out = subprocess.run(
        [str(BIN / "python"), "-c", code], cwd=ROOT, check=True, env=env, capture_output=True
    )
    return dict(json.loads(out.stdout.decode().strip().splitlines()[-1]))


def produce(database_url: str, schedule: int, at: str) -> dict[str, Any]:
    """One report made as beat's worker makes it, in a process of its own."""
    code = f"""
import django, json, resource, time; django.setup()
from datetime import datetime
from alerts.models import ReportSchedule
from alerts.report_runs import run_make
schedule = ReportSchedule.objects.select_related("tenant").get(pk={schedule})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
began = time.perf_counter()
run = run_make(schedule, at=datetime.fromisoformat("{at}"))
seconds = time.perf_counter() - began
print(json.dumps({{"seconds": seconds, "before_kb": before,
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "files": run.files, "zip": run.archive.size}}))
run.delete()
"""
    env = django_env(database_url, REPORT_STORAGE_DIR=str(STORAGE))
    out = subprocess.run(
        [str(BIN / "python"), "-c", code], cwd=ROOT, check=True, env=env, capture_output=True
    )
    return dict(json.loads(out.stdout.decode().strip().splitlines()[-1]))


def raw_copy(conninfo: str, tenant: int, start: str, end: str) -> tuple[float, int, int]:
    """Seconds, rows and bytes of copying the period's minute rollups out, discarded."""
    rows = size = 0
    began = time.perf_counter()
    with (
        psycopg.connect(conninfo) as conn,
        conn.cursor() as cursor,
        cursor.copy(
            "COPY (SELECT bucket, device_id, metric, count, min, sum / count, max "
            "FROM telemetry_rollup_1m WHERE tenant_id = %s AND bucket >= %s AND bucket < %s) "
            "TO STDOUT WITH (FORMAT csv)",
            [tenant, start, end],
        ) as copy,
    ):
        for row in copy:
            rows += 1
            size += len(row)
    return time.perf_counter() - began, rows, size


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--metrics", type=int, default=1, choices=range(1, len(METRICS) + 1))
    parser.add_argument("--period", choices=list(PERIOD_AT), default="month")
    parser.add_argument(
        "--reuse", action="store_true", help="the data the last run loaded with these arguments"
    )
    args = parser.parse_args()

    base = dotenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5433/iotplatform")
    saved = STORAGE / "loaded.json"
    key = [args.devices, args.metrics, args.period]
    if args.reuse and saved.exists() and json.loads(saved.read_text())["key"] == key:
        database_url = base.rsplit("/", 1)[0] + "/iot_bench_reports"
        loaded = json.loads(saved.read_text())
    else:
        database_url = scratch_database(base, "iot_bench_reports")
        print(f"loading a {args.period} of minute rollups for {args.devices} devices …",
              file=sys.stderr)  # fmt: skip
        loaded = load(database_url, args.devices, args.metrics, args.period)
        print(f"  loaded in {loaded['load_s']:.0f} s", file=sys.stderr)
        STORAGE.mkdir(exist_ok=True)
        saved.write_text(json.dumps({**loaded, "key": key}))
    conninfo = database_url.replace("postgres://", "postgresql://", 1)
    print("producing the ten-pump report …", file=sys.stderr)
    small = produce(database_url, loaded["small"], loaded["at"])
    print("producing the whole fleet's report …", file=sys.stderr)
    whole = produce(database_url, loaded["whole"], loaded["at"])
    print("raw baseline …", file=sys.stderr)
    raw_s, raw_rows, raw_bytes = raw_copy(conninfo, loaded["tenant"], loaded["start"],
                                          loaded["end"])  # fmt: skip

    def readings(report: dict[str, Any]) -> dict[str, Any]:
        return next(f for f in report["files"] if f["name"] == "readings.csv")

    rows = readings(whole)["rows"]
    print()
    print(
        f"report benchmark — {os.cpu_count()} cores; a {args.period} "
        f"({loaded['start'][:10]} to {loaded['end'][:10]}, Europe/Berlin) of 1-minute buckets, "
        f"{args.devices} devices x {args.metrics} metric(s), summary + readings, produced as "
        f"beat's worker does (alerts.report_runs.run_make) in a fresh process"
    )
    for label, report in ((f"{args.devices} devices", whole), ("10 devices", small)):
        r = readings(report)
        csv_mb = sum(f["bytes"] for f in report["files"]) / 1e6
        print(
            f"  {label:<14} {report['seconds']:8.1f} s   {r['rows']:>12,} rows   "
            f"{r['rows'] / report['seconds']:>10,.0f} rows/s   CSV {csv_mb:8.1f} MB   "
            f"zip {report['zip'] / 1e6:7.1f} MB   peak memory {report['peak_kb'] / 1024:6.0f} MB "
            f"(after start-up {report['before_kb'] / 1024:.0f} MB)"
        )
    print(
        f"  raw baseline   {raw_s:8.1f} s   {raw_rows:>12,} rows   "
        f"{raw_rows / raw_s:>10,.0f} rows/s   the same rollups copied out and discarded "
        f"({raw_bytes / 1e6:.0f} MB); the report takes {whole['seconds'] / raw_s:.1f}x as long"
    )
    grew = (whole["peak_kb"] - small["peak_kb"]) / 1024
    times = rows / max(1, readings(small)["rows"])
    print(
        f"  memory: {args.devices} devices peak {whole['peak_kb'] / 1024:.0f} MB vs 10 devices "
        f"{small['peak_kb'] / 1024:.0f} MB ({grew:+.0f} MB for {times:.0f}x the rows)"
    )
    print("JSON " + json.dumps({"whole": whole, "small": small, "raw_s": raw_s,
                               "raw_rows": raw_rows}))  # fmt: skip
    sys.exit(0 if rows == raw_rows else 1)


if __name__ == "__main__":
    main()
