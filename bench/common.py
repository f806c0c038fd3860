"""Helpers shared by the benchmark scripts."""

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dotenv(name: str, default: str) -> str:
    if name in os.environ:
        return os.environ[name]
    env_file = ROOT / ".env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            if line.startswith(f"{name}="):
                return line.split("=", 1)[1]
    return default


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    print("installing wrk (Debian package)…", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL
    )
    return shutil.which("wrk") or "wrk"


def scratch_database(base_url: str, name: str) -> str:
    parts = urlsplit(base_url)
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def django_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="iotplatform.settings.production",
        SECRET_KEY="bench-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@contextmanager
def uvicorn(database_url: str, *, workers: int = 1, **env: str) -> Iterator[str]:
    """The platform's ASGI app under its server (uvicorn, ``iotplatform.server``) on a scratch
    database; yields its URL once it
    answers, and stops it (with its workers) afterwards."""
    port = 18000 + os.getpid() % 2000
    server = subprocess.Popen(
        [
            str(BIN / "python"),
            "-m",
            "iotplatform.server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=django_env(
            database_url,
            **{
                "PYTHONWARNINGS": "ignore::UserWarning",  # no collectstatic for a benchmark
                "SESSION_COOKIE_SECURE": "false",  # plain http on loopback
                "CSRF_COOKIE_SECURE": "false",
                "REDIS_URL": dotenv("REDIS_URL", "redis://127.0.0.1:6379/0"),
                **env,
            },
        ),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            except Exception:
                if server.poll() is not None:
                    raise RuntimeError("uvicorn exited") from None
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by the machine's live processes, by role: the database
    (postgres), the platform's web server, the load generator (wrk) and the rest. The difference
    of two calls around a run is what each role cost it."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {"database": 0.0, "web": 0.0, "load": 0.0, "other": 0.0}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        used = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        if comm.startswith("postgres"):
            out["database"] += used
        elif b"iotplatform.server" in cmdline or b"multiprocessing.spawn" in cmdline:  # its workers
            out["web"] += used
        elif comm == "wrk":
            out["load"] += used
        else:
            out["other"] += used
    return out


def signed_in(url: str, username: str, password: str) -> requests.Session:
    """A session signed in through the sign-in page, as a person's browser is (CSRF included)."""
    session = requests.Session()
    session.get(f"{url}/accounts/login/", timeout=10)
    session.post(
        f"{url}/accounts/login/",
        data={"username": username, "password": password,
              "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{url}/accounts/login/"}, timeout=10,
    ).raise_for_status()  # fmt: skip
    return session
