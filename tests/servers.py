"""Start the platform's real processes (ASGI server, Celery worker, beat) for a test session.

They run as subprocesses against the test database that pytest-django created and the test
Redis database, exactly as `make run` starts them.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def until(
    check: Callable[[], object], timeout: float = 30.0, *, interval: float = 0.1,
    required: bool = True,
) -> bool:  # fmt: skip
    """Wait for ``check`` to come true; past ``timeout`` fail, or with ``required=False``
    return False and let the asserts after it say what is wrong."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            if required:
                raise AssertionError(f"not within {timeout:g} s: {check}")
            return False
        time.sleep(interval)
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_address() -> tuple[str, int]:
    db = settings.DATABASES["default"]
    return db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)


def database_url(name: str | None = None, port: int | None = None) -> str:
    """The test database's URL (``port``: reached through a relay on this port instead)."""
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "postgres")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host, own = database_address()
    host = "127.0.0.1" if port else host
    return f"postgres://{user}{password}@{host}:{port or own}/{name or db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    """Environment of a platform process working on the test database and test Redis."""
    env = dict(os.environ)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the browser tests' guard lift stays theirs
    env.update(
        DJANGO_SETTINGS_MODULE="iotplatform.settings.test",
        DATABASE_URL=database_url(),
        CONN_MAX_AGE="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            requests.get(url, timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy starting
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def running(args: list[str], log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=process_env(**env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop(proc)


ARTIFACTS = ROOT / "test-artifacts"


@contextmanager
def asgi_server(port: int | None = None, **env: str) -> Iterator[str]:
    """The ASGI application under the platform's server (uvicorn with its guards), as in
    production; yields its base URL."""
    port = port or free_port()
    args = [
        str(BIN / "python"),
        "-m",
        "iotplatform.server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with running(args, ARTIFACTS / f"uvicorn-{port}.log", **env) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", proc=proc)
        yield url


@contextmanager
def celery_worker(**env: str) -> Iterator[subprocess.Popen[bytes]]:
    args = [
        str(BIN / "celery"),
        "-A",
        "iotplatform",
        "worker",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--hostname",
        f"test-{os.getpid()}@%h",
        "--without-mingle",
        "--without-gossip",
    ]
    # An earlier test's beat may have left tasks queued (the apply cycle every 2 s): they
    # would run against this test's database, racing its teardown's TRUNCATE. Purged here,
    # before the worker starts and before this test sends its own.
    from iotplatform.celery import app

    app.control.purge()
    with running(args, ARTIFACTS / "celery-worker.log", **env) as proc:
        yield proc


@contextmanager
def celery_beat(**env: str) -> Iterator[subprocess.Popen[bytes]]:
    args = [str(BIN / "celery"), "-A", "iotplatform", "beat", "--loglevel", "INFO"]
    with running(args, ARTIFACTS / "celery-beat.log", **env) as proc:
        yield proc


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open within {timeout}s")


@contextmanager
def mail_sink(directory: Path, *options: str) -> Iterator[int]:
    """The development SMTP sink (iotplatform/devservers/mail_sink.py) keeping what it is sent
    in ``directory``; yields its port."""
    port = free_port()
    args = [str(BIN / "python"), "-m", "iotplatform.devservers.mail_sink"]
    args += ["--port", str(port), "--dir", str(directory), *options]
    with running(args, ARTIFACTS / f"mail-sink-{port}.log") as proc:
        wait_port(port, proc)
        yield port


SMS_SID = "AC" + "0123456789abcdef" * 2
SMS_TOKEN = "test-auth-token"


@contextmanager
def sms_gateway(directory: Path) -> Iterator[str]:
    """The stand-in for Twilio's Messages API (iotplatform/devservers/sms_gateway.py); yields
    its base URL. Account SID and token: SMS_SID, SMS_TOKEN."""
    port = free_port()
    args = [str(BIN / "python"), "-m", "iotplatform.devservers.sms_gateway"]
    args += ["--port", str(port), "--dir", str(directory)]
    args += ["--account-sid", SMS_SID, "--auth-token", SMS_TOKEN]
    with running(args, ARTIFACTS / f"sms-gateway-{port}.log") as proc:
        wait_port(port, proc)
        yield f"http://127.0.0.1:{port}"


@contextmanager
def mqtt_broker(directory: Path, port: int | None = None) -> Iterator[tuple[str, Path]]:
    """The platform's broker (Mosquitto with its plugin, as `make run` starts it) on a port of
    its own, reading the credentials file in ``directory``; yields its URL and that file."""
    subprocess.run(["bash", "scripts/broker.sh", "build"], cwd=ROOT, check=True)
    port = port or free_port()
    credentials = directory / "credentials"
    credentials.touch()
    data = directory / "data"
    config = subprocess.run(
        ["bash", "scripts/broker.sh", "config", str(port), str(credentials), str(data)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    data.mkdir(exist_ok=True)
    (directory / "mosquitto.conf").write_text(config)
    args = ["/usr/sbin/mosquitto", "-c", str(directory / "mosquitto.conf")]
    with running(args, ARTIFACTS / f"mosquitto-{port}.log") as proc:
        wait_port(port, proc)
        yield f"mqtt://127.0.0.1:{port}", credentials


@contextmanager
def mqtt_bridge(url: str, credentials: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``manage.py mqtt_ingest`` against the broker at ``url``, keeping ``credentials``."""
    args = [str(BIN / "python"), "manage.py", "mqtt_ingest"]
    extra = {"MQTT_URL": url, "MQTT_CREDENTIALS_FILE": str(credentials), **env}
    with running(args, ARTIFACTS / "mqtt-bridge.log", **extra) as proc:
        yield proc


class RedisServer:
    """A redis-server of the test's own on a free port, persisting to ``directory`` as the
    production compose stack does (append-only file): :meth:`restart` is an operator's restart
    (a clean shutdown, then a new server on the same port and files)."""

    def __init__(self, directory: Path, *options: str) -> None:
        self.directory = directory
        self.options = options  # more of redis-server's, e.g. ("--replicaof", host, port)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
        args += ["--dir", str(self.directory), "--appendonly", "yes", "--save", "", *self.options]
        log = (ARTIFACTS / f"redis-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            subprocess.run(["redis-cli", "-p", str(self.port), "shutdown"], check=False)
            self.proc.wait(15)

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


@contextmanager
def redis_server(directory: Path, *options: str) -> Iterator[RedisServer]:
    ARTIFACTS.mkdir(exist_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    server = RedisServer(directory, *options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def alerts_evaluator(**env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``manage.py alerts_evaluate``, the alert rule evaluator `make run` starts."""
    args = [str(BIN / "python"), "manage.py", "alerts_evaluate", "--block-ms", "200"]
    with running(args, ARTIFACTS / "alerts-evaluator.log", **env) as proc:
        yield proc


@contextmanager
def redis_sentinel(directory: Path, primary: RedisServer, name: str = "iot") -> Iterator[int]:
    """A Redis Sentinel watching ``primary`` under ``name``, quick to act: the primary is
    called down after a second without an answer, and a replica promoted. Yields its port."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "sentinel.conf"  # the sentinel rewrites it as it learns
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
        f"sentinel monitor {name} 127.0.0.1 {primary.port} 1\n"
        f"sentinel down-after-milliseconds {name} 1000\n"
        f"sentinel failover-timeout {name} 10000\n"
    )
    log = (ARTIFACTS / f"sentinel-{port}.log").open("ab")
    proc = subprocess.Popen(["redis-server", str(config), "--sentinel"], stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_port(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(15)
