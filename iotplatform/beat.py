"""The one registry of periodic tasks.

Every entry names a task by its registered name and sets ``expires`` so a backlog built up while
workers were down is dropped instead of replayed in a burst (the next run comes soon anyway).
Later capabilities (offline detection, model application, retention, reports) add theirs here.
"""

from typing import Any

HEARTBEAT_SECONDS = 15.0

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "platform-heartbeat": {
        "task": "iotplatform.heartbeat",
        "schedule": HEARTBEAT_SECONDS,
        "options": {"expires": HEARTBEAT_SECONDS},
    },
}
