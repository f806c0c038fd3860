import socket
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from iotplatform.health import alive_age, heartbeat_age

ROLES = ("web", "worker", "beat", "alerts", "mqtt")


class Command(BaseCommand):
    help = (
        "Is this host's (or container's) process of a role working? Exit status 0 if so, 1 with "
        "the reason if not — the compose stack's health checks: manage.py healthcheck "
        "web|worker|beat|alerts|mqtt"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", choices=ROLES)
        parser.add_argument("--url", default="http://127.0.0.1:8000/healthz", help="web: /healthz")
        parser.add_argument(
            "--worker-name",
            default=f"celery@{socket.gethostname()}",
            help="worker: its node name (celery worker --hostname)",
        )
        parser.add_argument(
            "--max-age", type=float, default=30.0, help="alerts, mqtt: seconds since it last worked"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"]
        problem = getattr(self, f"_{role}")(options)
        if problem:
            raise CommandError(f"{role}: {problem}")
        self.stdout.write(f"{role}: ok")

    def _web(self, options: dict[str, Any]) -> str | None:
        try:
            with urllib.request.urlopen(options["url"], timeout=4) as response:
                return None if response.status == 200 else f"{options['url']}: {response.status}"
        except Exception as exc:  # refused, 503, a timeout: all unhealthy, said why
            return f"{options['url']}: {exc}"

    def _worker(self, options: dict[str, Any]) -> str | None:
        from iotplatform.celery import app

        try:
            replies = app.control.ping(destination=[options["worker_name"]], timeout=3.0)
        except Exception as exc:  # the broker is away
            return f"no broker: {exc}"
        return None if replies else f"{options['worker_name']} did not answer a ping"

    def _beat(self, options: dict[str, Any]) -> str | None:
        try:
            age = heartbeat_age()
        except Exception as exc:
            return f"no Redis: {exc}"
        stale = settings.BEAT_HEARTBEAT_STALE_AFTER
        if age is None:
            return "no heartbeat handled yet (beat sends one every 15 s; a worker handles it)"
        return None if age <= stale else f"last heartbeat {age:.0f} s ago (stale after {stale} s)"

    def _alive(self, role: str, options: dict[str, Any]) -> str | None:
        age = alive_age(role)
        if age is None:
            return "has not worked yet on this host"
        limit = options["max_age"]
        return None if age <= limit else f"last worked {age:.0f} s ago (more than {limit:.0f} s)"

    def _alerts(self, options: dict[str, Any]) -> str | None:
        return self._alive("alerts", options)

    def _mqtt(self, options: dict[str, Any]) -> str | None:
        return self._alive("mqtt", options)
