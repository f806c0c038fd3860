"""API sign-in benchmark: what a script pays per call with a password (HTTP Basic, hashed with
the production hasher on every request) against a personal API token (one SHA-256 and one
indexed lookup), through uvicorn and the REST API.

    .venv/bin/python bench/auth.py [--calls 200]

A scratch database (``iot_bench_auth``) with one tenant, one person and a token of theirs; one
connection makes ``--calls`` requests of ``GET /api/v1/me`` one after another with each scheme;
the baseline in the same run is the same calls on a signed-in session (no per-call sign-in).
"""

import argparse
import os
import statistics
import subprocess
import time

import requests
from common import BIN, ROOT, django_env, dotenv, scratch_database, signed_in, uvicorn

SETUP = """
import django; django.setup()
from iotplatform.tenancy.services import tenant_create, user_create
from iotplatform.tenancy.tokens import personal_token_create
tenant = tenant_create(slug="bench", name="Bench")
user, _ = user_create(tenant=tenant, username="bench-script", password="bench-pass-2024")
print(personal_token_create(user=user, name="bench", days=1)[1])
"""


def timed(session: requests.Session, url: str, calls: int) -> tuple[float, float]:
    """(calls per second, median ms) of ``calls`` requests one after another."""
    times = []
    began = time.perf_counter()
    for _ in range(calls):
        start = time.perf_counter()
        answer = session.get(f"{url}/api/v1/me", timeout=30)
        assert answer.status_code == 200, answer.text
        times.append((time.perf_counter() - start) * 1000)
    return calls / (time.perf_counter() - began), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    database_url = scratch_database(
        dotenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5433/iotplatform"), "iot_bench_auth"
    )
    env = django_env(database_url)
    subprocess.run([str(BIN / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, check=True,
                   env=env)  # fmt: skip
    token = subprocess.run(
        [str(BIN / "python"), "-c", SETUP], cwd=ROOT, check=True, env=env,
        capture_output=True, text=True,
    ).stdout.split()[-1]  # fmt: skip
    with uvicorn(database_url, workers=1) as url:
        session = signed_in(url, "bench-script", "bench-pass-2024")
        cookie = timed(session, url, args.calls)
        basic = requests.Session()
        basic.auth = ("bench-script", "bench-pass-2024")
        password = timed(basic, url, args.calls)
        bearer = requests.Session()
        bearer.headers["Authorization"] = f"Bearer {token}"
        personal = timed(bearer, url, args.calls)
    print()
    cores = os.cpu_count()
    print(f"API sign-in benchmark — {cores} cores, {args.calls} calls each, one connection")
    for name, (rate, median) in (("signed-in session (baseline)", cookie),
                                 ("HTTP Basic (password hashed per call)", password),
                                 ("personal API token (Bearer)", personal)):  # fmt: skip
        print(f"  {name:<40} {rate:>8.1f} calls/s   p50 {median:7.1f} ms"
              f"   {rate / cookie[0]:.0%} of the baseline")  # fmt: skip


if __name__ == "__main__":
    main()
