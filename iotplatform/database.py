"""Connection strings for code that talks to PostgreSQL with psycopg directly (the ingest app,
streaming exports), built from the same DATABASES setting as Django's own connections."""

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

REPLICA = "replica"


def read_alias() -> str:
    """Where the query API reads readings: the replica when one is configured
    (``DATABASE_REPLICA_URL``), else the primary."""
    return REPLICA if REPLICA in settings.DATABASES else "default"


def reader() -> BaseDatabaseWrapper:
    """Django's connection to :func:`read_alias`."""
    return connections[read_alias()]


def conninfo(
    *, application_name: str = "iotplatform", alias: str = "default", database: str | None = None
) -> str:
    """``database``: another database on the same server (a scratch or the maintenance one)."""
    db = settings.DATABASES[alias]
    parts = {
        "host": db.get("HOST") or "127.0.0.1",
        "port": str(db.get("PORT") or 5432),
        "dbname": database or db["NAME"],
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or "",
        "application_name": application_name,
        # Whatever the server's default: buckets and dates computed in SQL are UTC ones; the
        # statement and lock bounds of the process (settings.DB_*_TIMEOUT_MS).
        "options": "-c TimeZone=UTC "
        f"-c statement_timeout={settings.DB_STATEMENT_TIMEOUT_MS} "
        f"-c lock_timeout={settings.DB_LOCK_TIMEOUT_MS}",
    }
    return " ".join(
        "{}='{}'".format(k, str(v).replace("\\", "\\\\").replace("'", "\\'"))
        for k, v in parts.items()
        if v
    )
