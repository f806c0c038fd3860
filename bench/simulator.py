"""Simulator benchmark: history generation speed, and a live fleet's cost on one core.

    .venv/bin/python bench/simulator.py [--devices 10000] [--interval 10] [--seconds 60]

1. History: 100 devices, 7 days at a 10 s interval, written as CSV: points/s (target ≥ 1 M).
2. Live: one simulator process drives ``--devices`` devices, one reading each per
   ``--interval`` seconds, each with its own token, through the real platform (uvicorn, 2
   workers, a scratch database); prints the simulator's own CPU use (a share of one core), the
   points it delivered per second and whether every tick kept time.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import BIN, ROOT, django_env, dotenv, scratch_database, uvicorn


def history() -> dict[str, float]:
    out = Path(tempfile.mkdtemp(prefix="iot-history-"))
    result = subprocess.run(
        [
            str(BIN / "python"),
            "-m",
            "simulator",
            "history",
            "--devices",
            "100",
            "--days",
            "7",
            "--interval",
            "10s",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    line = result.stdout.strip().splitlines()[-1]
    points = int(line.split(" points")[0].replace(",", ""))
    seconds = float(line.split(" in ")[1].split(" s")[0])
    subprocess.run(["rm", "-rf", str(out)], check=True)
    return {"points": points, "seconds": seconds, "points_per_s": points / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()

    hist = history()
    print(
        f"history: {hist['points']:,} points in {hist['seconds']:.1f} s "
        f"= {hist['points_per_s']:,.0f} points/s",
        file=sys.stderr,
    )

    database_url = scratch_database(
        dotenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5433/iotplatform"),
        "iot_bench_simulator",
    )
    env = django_env(database_url)
    subprocess.run(
        [str(BIN / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=env
    )
    key = subprocess.run(
        [
            str(BIN / "python"),
            "-c",
            "import django; django.setup()\n"
            "from iotplatform.tenancy.services import tenant_create\n"
            "from devices.services import ingest_key_create\n"
            "t = tenant_create(slug='bench', name='Bench')\n"
            "print(ingest_key_create(tenant=t)[1])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    state = Path(tempfile.mkdtemp(prefix="iot-sim-"))
    with uvicorn(database_url, workers=2) as url:
        # provision first (not timed): a run of 0 s creates the fleet's tokens
        subprocess.run(
            [
                str(BIN / "python"),
                "-m",
                "simulator",
                "run",
                "--url",
                url,
                "--tenant-key",
                key,
                "--devices",
                str(args.devices),
                "--state-dir",
                str(state),
                "--duration",
                "0",
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        began = time.perf_counter()
        proc = subprocess.Popen(
            [
                str(BIN / "python"),
                "-m",
                "simulator",
                "run",
                "--url",
                url,
                "--devices",
                str(args.devices),
                "--interval",
                str(args.interval),
                "--state-dir",
                str(state),
                "--duration",
                f"{args.seconds}s",
                "--duplicate-rate",
                "0",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(state / "simulator.log").open("wb"),
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
    summary = json.loads((state / "summary.json").read_text())
    cpu = usage.ru_utime + usage.ru_stime
    expected_ticks = int(args.seconds // args.interval) + (args.seconds % args.interval > 0)
    print()
    print(
        f"simulator benchmark — {os.cpu_count()} cores, platform and simulator on the same machine"
    )
    print(
        f"  history generation (100 devices, 7 days at 10 s, CSV)   "
        f"{hist['points_per_s']:>12,.0f} points/s   target ≥ 1,000,000"
    )
    print(f"  live: {args.devices:,} devices, one reading each per {args.interval:g} s, own tokens")
    print(
        f"    simulator CPU                                        {cpu / wall:>11.0%} of one "
        f"core ({cpu:.1f} s in {wall:.1f} s)"
    )
    print(
        f"    readings delivered                                   "
        f"{summary['accepted'] / args.seconds:>12,.0f} points/s "
        f"({summary['generated']:,} generated, {summary['accepted']:,} stored)"
    )
    print(
        f"    ticks                                                {summary['ticks']:>12} "
        f"of {expected_ticks} on time; spooled {summary['spooled']}"
    )
    print(f"    simulator log: {state / 'simulator.log'}")
    print("JSON " + json.dumps({"history": hist, "cpu_share": cpu / wall, "summary": summary}))
    sys.exit(0 if os.WEXITSTATUS(status) == 0 else 1)


if __name__ == "__main__":
    main()
