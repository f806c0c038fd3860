"""Ingestion benchmark: the real ASGI server writing into the real database, beside a raw COPY.

    .venv/bin/python bench/ingest.py [--devices 1000] [--seconds 15] [--workers 2]

1. A scratch database (``iot_bench`` on the server DATABASE_URL points at) is migrated and
   given a tenant with ``--devices`` pumps and their tokens.
2. Raw baseline, same run, same table: binary COPY of 10,000-row batches straight into
   ``telemetry_reading``, one transaction per batch, from one client: rows/s.
3. Batches: wrk posts 10,000-point batches (2,000 readings x 5 metrics) through uvicorn to
   ``/api/v1/ingest``, each with a device token: points/s, request p50/p99, ratio to raw COPY.
4. Small devices: wrk posts one reading per request: requests/s, p50/p99.

wrk (Debian's package, installed when missing) shares the two cores with the server and the
database, as a real single-box deployment would with its own load. Every point is checked: the
table must hold exactly what the server acknowledged.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from common import (
    BIN,
    ROOT,
    cpu_seconds,
    django_env,
    dotenv,
    ensure_wrk,
    scratch_database,
    uvicorn,
)

BATCH_ITEMS = 2000  # readings per batch request; x 5 metrics = 10,000 points


def provision(database_url: str, devices: int, tokens_file: Path) -> None:
    code = f"""
import django; django.setup()
from iotplatform.tenancy.services import tenant_create
from devices.services import device_create, device_types_install_catalog
tenant = tenant_create(slug="bench", name="Bench")
pump = [t for t in device_types_install_catalog(tenant=tenant) if t.name == "pump"][0]
with open({str(tokens_file)!r}, "w") as out:
    for i in range({devices}):
        device, token = device_create(tenant=tenant, device_type=pump, name=f"Pump {{i}}",
                                      serial=f"B-{{i:05d}}")
        out.write(token + "\\n")
"""
    subprocess.run(
        [str(BIN / "python"), "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        check=True,
        env=django_env(database_url),
    )
    subprocess.run(
        [str(BIN / "python"), "-c", code], cwd=ROOT, check=True, env=django_env(database_url)
    )


def count_and_clear(conninfo: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM telemetry_reading").fetchone()  # type: ignore[misc]
        conn.execute("TRUNCATE telemetry_reading, telemetry_latest")
    return int(rows)


def raw_copy(conninfo: str, rows_total: int, batch: int = 10_000) -> float:
    """Binary COPY straight into the readings table, one transaction per batch."""
    with psycopg.connect(conninfo) as conn:
        tenant_id, device_ids = conn.execute(
            "SELECT tenant_id, array_agg(id) FROM devices_device GROUP BY tenant_id"
        ).fetchone()  # type: ignore[misc]
        start_time = datetime.now(UTC) - timedelta(days=60)
        metrics = ["temperature", "vibration", "pressure", "flow", "current"]
        batches = []
        n = 0
        for b in range(rows_total // batch):
            rows = []
            device = device_ids[b % len(device_ids)]
            for i in range(batch):
                when = start_time + timedelta(milliseconds=n // 5)
                rows.append((when, tenant_id, device, metrics[n % 5], 60.0 + (i % 100) / 10))
                n += 1
            batches.append(rows)
        began = time.perf_counter()
        for rows in batches:
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(
                    "COPY telemetry_reading (time, tenant_id, device_id, metric, value) "
                    "FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(["timestamptz", "int8", "int8", "text", "float8"])
                for row in rows:
                    copy.write_row(row)
        return rows_total / (time.perf_counter() - began)


def run_wrk(
    wrk: str,
    url: str,
    *,
    threads: int,
    connections: int,
    seconds: int,
    tokens_file: Path,
    items: int,
    metrics: int,
) -> dict[str, Any]:
    base_ms = int((datetime.now(UTC) - timedelta(days=40)).timestamp() * 1000)
    env = dict(
        os.environ,
        BENCH_TOKENS=str(tokens_file),
        BENCH_ITEMS=str(items),
        BENCH_METRICS=str(metrics),
        BENCH_BASE_MS=str(base_ms),
    )
    before = cpu_seconds()
    result = subprocess.run(
        [
            wrk,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "wrk_ingest.lua"),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    after = cpu_seconds()
    cpu = {role: after[role] - before[role] for role in before}  # wrk's own: it has exited
    line = next(x for x in result.stdout.splitlines() if x.startswith("JSON "))
    data = json.loads(line[5:])
    ok = data["requests"] - data["errors_status"]
    seconds_run = data["duration_us"] / 1e6
    return {
        "requests": data["requests"],
        "ok": ok,
        "non_2xx": data["errors_status"],
        "errors": data["errors_connect"] + data["errors_timeout"],
        "rps": ok / seconds_run,
        "points_per_s": ok * items * metrics / seconds_run,
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "points": ok * items * metrics,
        "cpu_s": {role: round(seconds, 1) for role, seconds in cpu.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--single-connections", type=int, default=64)
    parser.add_argument("--raw-rows", type=int, default=600_000)
    args = parser.parse_args()

    wrk = ensure_wrk()
    database_url = scratch_database(
        dotenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5433/iotplatform"), "iot_bench"
    )
    conninfo = database_url.replace("postgres://", "postgresql://", 1)
    work = Path(tempfile.mkdtemp(prefix="iot-bench-"))
    tokens_file = work / "tokens.txt"
    print(f"provisioning {args.devices} devices in {database_url} …", file=sys.stderr)
    provision(database_url, args.devices, tokens_file)

    raw = raw_copy(conninfo, args.raw_rows)
    count_and_clear(conninfo)

    with uvicorn(
        database_url,
        workers=args.workers,
        INGEST_TENANT_RATE="100000000",
        INGEST_DEVICE_RATE="100000",
    ) as url:
        # warm-up: connection pools, token caches, code paths
        run_wrk(
            wrk,
            url,
            threads=2,
            connections=8,
            seconds=2,
            tokens_file=tokens_file,
            items=1,
            metrics=1,
        )
        count_and_clear(conninfo)

        batch = run_wrk(
            wrk,
            url,
            threads=2,
            connections=args.batch_connections,
            seconds=args.seconds,
            tokens_file=tokens_file,
            items=BATCH_ITEMS,
            metrics=5,
        )
        time.sleep(1.5)
        stored_batch = count_and_clear(conninfo)
        single = run_wrk(
            wrk,
            url,
            threads=2,
            connections=args.single_connections,
            seconds=args.seconds,
            tokens_file=tokens_file,
            items=1,
            metrics=1,
        )
        time.sleep(1.5)
        stored_single = count_and_clear(conninfo)

    ratio = batch["points_per_s"] / raw
    print()
    print(
        f"ingest benchmark — {os.cpu_count()} cores, uvicorn x{args.workers}, "
        f"{args.devices} devices, {args.seconds} s per run, wrk on the same machine"
    )
    print(f"  raw binary COPY (10,000-row transactions)  {raw:>12,.0f} rows/s")
    print(
        f"  batches of 10,000 points via the API       {batch['points_per_s']:>12,.0f} points/s"
        f"   ratio to raw COPY {ratio:.0%}   p50 {batch['p50_ms']:.1f} ms"
        f"   p99 {batch['p99_ms']:.1f} ms   ({args.batch_connections} connections)"
    )
    print(
        f"  one reading per request                    {single['rps']:>12,.0f} requests/s"
        f"                     p50 {single['p50_ms']:.1f} ms   p99 {single['p99_ms']:.1f} ms"
        f"   ({args.single_connections} connections)"
    )
    for name, run in (("batches", batch), ("one reading per request", single)):
        cpu = run["cpu_s"]
        busy = cpu["database"] + cpu["web"]
        print(
            f"  CPU, {name}: database {cpu['database']:.1f} s, web {cpu['web']:.1f} s "
            f"(the database {cpu['database'] / busy:.0%} of the two), other {cpu['other']:.1f} s"
            f" in {args.seconds} s"
        )
    print(
        f"  non-2xx answers: batch {batch['non_2xx']}, single {single['non_2xx']}; "
        f"socket errors: {batch['errors'] + single['errors']}"
    )
    # wrk stops counting with requests still in flight: those were stored but not tallied, so
    # the table may hold up to one request per connection more than was acknowledged.
    problems = []
    slack = args.batch_connections * BATCH_ITEMS * 5
    if not batch["points"] <= stored_batch <= batch["points"] + slack:
        problems.append(f"batch: table holds {stored_batch}, server acknowledged {batch['points']}")
    if not single["points"] <= stored_single <= single["points"] + args.single_connections:
        problems.append(f"single: table holds {stored_single}, acknowledged {single['points']}")
    for problem in problems:
        print(f"  MISMATCH {problem}")
    print(
        "JSON "
        + json.dumps(
            {
                "raw_copy_rows_per_s": round(raw),
                "batch": batch,
                "single": single,
                "ratio": round(ratio, 3),
            }
        )
    )
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
