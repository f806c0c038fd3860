"""After-commit consumers: what happens to readings once they are durable.

The pipeline hands the rows each transaction stored to every consumer named in the setting
``INGEST_AFTER_COMMIT`` (dotted paths, in order), in the manner of NetBox's events pipeline:
telemetry knows the interface, not the consumers, so alerts and analytics plug in by adding
their class to the list instead of telemetry importing them.

A consumer is built once per ingest process with the pipeline's shared :class:`Resources`.
``committed`` runs on the event loop right after each commit and must be cheap (gather in
memory); anything slow (a database round trip, a group send) belongs in the consumer's own
task, started by ``start`` and flushed by ``stop``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string
from psycopg_pool import AsyncConnectionPool
from redis import asyncio as aioredis

from .writer import Row


@dataclass(frozen=True)
class Resources:
    """What the pipeline shares with its consumers."""

    pool: AsyncConnectionPool
    redis: aioredis.Redis


class AfterCommit(Protocol):
    def __init__(self, resources: Resources) -> None: ...

    async def start(self) -> None:
        """Start the consumer's own tasks, if any."""

    def committed(self, rows: Sequence[Row]) -> None:
        """The rows a transaction stored (resends already left out). Cheap, never blocking."""

    async def stop(self) -> None:
        """Flush what is gathered and stop the tasks."""


def consumers_load(resources: Resources) -> list[AfterCommit]:
    """The configured consumers, built in order."""
    return [import_string(path)(resources) for path in settings.INGEST_AFTER_COMMIT]
