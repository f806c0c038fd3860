"""The readings table: a hypertable on TimescaleDB, a plain table on plain PostgreSQL, and the
same unique key on both."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from django.db import connection

from telemetry.timescale import is_hypertable

from .. import servers
from ..servers import ROOT

PLAIN_POSTGRES_URL = os.environ.get(
    "PLAIN_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.mark.django_db
def test_readings_table_is_a_hypertable_on_timescaledb() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        row = cursor.fetchone()
        assert row is not None, "the test database runs without TimescaleDB"
        cursor.execute(
            "SELECT hypertable_name, num_dimensions FROM timescaledb_information.hypertables"
        )
        assert sorted(cursor.fetchall()) == [("telemetry_reading", 1), ("telemetry_rollup_1m", 1)]
        cursor.execute(
            "SELECT hypertable_name, column_name, time_interval "
            "FROM timescaledb_information.dimensions ORDER BY 1"
        )
        dimensions = [(t, c, i.days) for t, c, i in cursor.fetchall()]
    assert dimensions == [("telemetry_reading", "time", 1), ("telemetry_rollup_1m", "bucket", 7)]
    assert is_hypertable(connection)


def insert_twice(cursor: Any) -> int:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    sql = (
        "INSERT INTO telemetry_reading (time, tenant_id, device_id, metric, value) "
        "VALUES (%s, 1, 1, 'temperature', %s) ON CONFLICT DO NOTHING"
    )
    cursor.execute(sql, [when, 20.0])
    cursor.execute(sql, [when, 21.0])
    cursor.execute("SELECT count(*) FROM telemetry_reading")
    return int(cursor.fetchone()[0])


@pytest.mark.django_db
def test_resent_reading_is_not_duplicated_on_timescaledb() -> None:
    with connection.cursor() as cursor:
        assert insert_twice(cursor) == 1


@pytest.fixture
def plain_database() -> Iterator[str]:
    try:
        admin = psycopg.connect(PLAIN_POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no plain PostgreSQL at {PLAIN_POSTGRES_URL}: {exc}")
    name = f"iot_plain_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PLAIN_POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.slow
def test_same_migrations_pass_on_plain_postgresql(plain_database: str) -> None:
    env = dict(
        os.environ,
        DATABASE_URL=plain_database.replace("postgresql://", "postgres://"),
        DJANGO_SETTINGS_MODULE="iotplatform.settings.test",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "telemetry.0002_hypertable... OK" in result.stdout
    with psycopg.connect(plain_database) as conn:
        extensions = conn.execute("SELECT extname FROM pg_extension").fetchall()
        assert ("timescaledb",) not in extensions
        (pk,) = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'telemetry_reading'::regclass AND contype = 'p'"
        ).fetchone()  # type: ignore[misc]
        assert pk == 'PRIMARY KEY (device_id, metric, "time")'
        with conn.cursor() as cursor:
            assert insert_twice(cursor) == 1


def _probe(database_url: str) -> dict[str, Any]:
    env = dict(
        os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="iotplatform.settings.test"
    )
    for args in (
        ["manage.py", "migrate", "--noinput", "-v0"],
        ["-m", "tests.telemetry.print_series"],
    ):
        result = subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def timescale_scratch() -> Iterator[str]:
    name = f"iot_probe_{uuid.uuid4().hex[:8]}"
    admin_url = servers.database_url("postgres").replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield servers.database_url(name)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_bucketed_queries_give_the_same_numbers_on_timescaledb_and_plain_postgresql(
    plain_database: str, timescale_scratch: str
) -> None:
    timescale = _probe(timescale_scratch)
    plain = _probe(plain_database.replace("postgresql://", "postgres://"))
    assert (timescale.pop("timescaledb"), plain.pop("timescaledb")) == (True, False)
    assert timescale.keys() == plain.keys()
    for key in timescale:
        a, b = timescale[key], plain[key]
        assert a["table"] == b["table"], key
        for metric, series in a["series"].items():
            other = b["series"][metric]
            assert series["t"] == other["t"] and series["count"] == other["count"], key
            assert len(series["t"]) > 0, key
            for field in ("min", "avg", "max"):
                assert series[field] == pytest.approx(other[field], rel=1e-12), (key, field)
    assert [timescale[k]["table"] for k in ("device-10s", "device-1m", "device-1h")] == [
        "telemetry_reading",
        "telemetry_rollup_1m",
        "telemetry_rollup_1h",
    ]
