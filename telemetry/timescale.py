"""TimescaleDB helpers that still work on plain PostgreSQL."""

from django.db.backends.base.base import BaseDatabaseWrapper

READINGS_TABLE = "telemetry_reading"


def timescaledb_available(connection: BaseDatabaseWrapper) -> bool:
    """True when the server can run TimescaleDB: extension installed and preloaded."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        if cursor.fetchone() is None:
            return False
        cursor.execute("SELECT current_setting('shared_preload_libraries')")
        (preload,) = cursor.fetchone()
    return "timescaledb" in preload


def is_hypertable(connection: BaseDatabaseWrapper, table: str = READINGS_TABLE) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
        if cursor.fetchone() is None:
            return False
        cursor.execute(
            "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = %s",
            [table],
        )
        return cursor.fetchone() is not None


BUCKET_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"


def bucket_expression(connection: BaseDatabaseWrapper, column: str) -> str:
    """SQL bucketing ``column`` by the interval bound as the first parameter.

    ``time_bucket`` on TimescaleDB, ``date_bin`` on plain PostgreSQL, both from the same origin
    so the two give the same buckets. The answer is cached on the connection.
    """
    timescale = getattr(connection, "_iot_timescale", None)
    if timescale is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
            timescale = cursor.fetchone() is not None
        connection._iot_timescale = timescale  # type: ignore[attr-defined]
    function = "time_bucket" if timescale else "date_bin"
    return f"{function}(%s::interval, {column}, {BUCKET_ORIGIN})"
