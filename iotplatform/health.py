"""Liveness of the platform's parts, for `/healthz` and the Celery health tasks."""

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from redis import Redis

from iotplatform import redisplace


def _redis() -> Redis:
    return redisplace.client(socket_timeout=2)


def alive_path(name: str) -> Path:
    return Path(settings.ALIVE_DIR) / f"iot-{name}.alive"


def alive_mark(name: str) -> None:
    """A long-running process (the MQTT bridge, the alert evaluator) says it is working: the
    mark's time is what `manage.py healthcheck <name>` reads. At most one write a second."""
    now = time.time()
    if now - _marked.get(name, 0.0) >= 1.0:
        _marked[name] = now
        alive_path(name).touch()


def alive_age(name: str) -> float | None:
    """Seconds since the process last marked itself alive on this host; None: never."""
    try:
        return max(0.0, time.time() - alive_path(name).stat().st_mtime)
    except FileNotFoundError:
        return None


_marked: dict[str, float] = {}


def heartbeat_record() -> None:
    """Store the time of the latest beat heartbeat handled by a worker."""
    _redis().set(settings.BEAT_HEARTBEAT_KEY, f"{time.time():.3f}", ex=24 * 3600)


def heartbeat_age() -> float | None:
    """Seconds since the last heartbeat, or None when none was ever recorded."""
    raw = _redis().get(settings.BEAT_HEARTBEAT_KEY)
    return None if raw is None else max(0.0, time.time() - float(raw))


def services_check(*, include_beat: bool = True, include_counts: bool = False) -> dict[str, Any]:
    """Check the database (and whether TimescaleDB is on), Redis and beat's heartbeat.

    ``include_counts`` adds the number of tenants (for operators' checks from a worker; the
    public endpoint leaves it out).
    """
    result: dict[str, Any] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
            row = cursor.fetchone()
            result["database"] = {"ok": True, "timescaledb": row[0] if row else None}
            if include_counts:
                cursor.execute("SELECT count(*) FROM tenancy_tenant")
                result["database"]["tenants"] = cursor.fetchone()[0]
    except Exception as exc:  # report, never raise: this is the health endpoint
        result["database"] = {"ok": False, "error": str(exc)}
    try:
        _redis().ping()
        result["redis"] = {"ok": True}
    except Exception as exc:
        result["redis"] = {"ok": False, "error": str(exc)}
    if include_beat and result["redis"]["ok"]:
        age = heartbeat_age()
        result["beat"] = {
            "ok": age is not None and age < settings.BEAT_HEARTBEAT_STALE_AFTER,
            "last_heartbeat_seconds_ago": None if age is None else round(age, 1),
        }
    return result


def healthz(request: HttpRequest) -> JsonResponse:
    """Public health endpoint: 200 when database and Redis answer, else 503."""
    result = services_check()
    ok = result["database"]["ok"] and result["redis"]["ok"]
    return JsonResponse({"ok": ok, **result}, status=200 if ok else 503)
