"""Backups of the platform's database — the readings hypertable with everything else — with
PostgreSQL's own pg_dump, and the check that a backup restores.

``backup_create`` dumps in pg_dump's custom format from an exported snapshot and counts every
table's rows in that same snapshot, so the counts written beside the dump (``<dump>.json``) are
exactly what it holds, however busy ingestion is meanwhile. ``backup_check`` restores the dump
into a scratch database on the same server by TimescaleDB's procedure (the extension created,
``timescaledb_pre_restore()``, pg_restore without parallel jobs, ``timescaledb_post_restore()``)
and compares every table's rows with those counts; the scratch database is dropped afterwards.
The tools run through ``settings.PG_CLIENT`` (they must be of the server's major version).
"""

import json
import shlex
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings

from iotplatform.database import conninfo

TABLES_SQL = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
    "ORDER BY c.relname"
)


class BackupError(Exception):
    """The backup or its check failed; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Check:
    tables: int
    rows: int
    mismatches: dict[str, tuple[int, int | None]]  # table: (in the backup, restored)


def _tool(name: str) -> list[str]:
    return [*shlex.split(settings.PG_CLIENT), name]


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".json")


def table_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Rows in every table of the public schema (a hypertable's across all its chunks)."""
    tables = [name for (name,) in conn.execute(TABLES_SQL).fetchall()]
    counts = {}
    for name in tables:
        row = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts


def backup_create(dump: Path) -> dict[str, Any]:
    """Dump the database to ``dump`` and its row counts beside it; the manifest."""
    source = conninfo(application_name="iot-backup")
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        (snapshot,) = conn.execute("SELECT pg_export_snapshot()").fetchone()  # type: ignore[misc]
        counts = table_counts(conn)
        versions = conn.execute(
            "SELECT current_setting('server_version'), "
            "(SELECT extversion FROM pg_extension WHERE extname = 'timescaledb')"
        ).fetchone()
        with dump.open("wb") as out:
            done = subprocess.run(
                [*_tool("pg_dump"), "--format=custom", f"--snapshot={snapshot}", "--dbname",
                 source], stdout=out, stderr=subprocess.PIPE, text=False, check=False,
            )  # fmt: skip
        conn.execute("COMMIT")
    if done.returncode != 0:
        dump.unlink(missing_ok=True)
        raise BackupError(f"{dump}: pg_dump failed: {done.stderr.decode(errors='replace')[-500:]}")
    manifest = {
        "database": settings.DATABASES["default"]["NAME"],
        "created_at": datetime.now(UTC).isoformat(),
        "postgres": versions[0] if versions else None,
        "timescaledb": versions[1] if versions else None,
        "counts": counts,
    }
    manifest_path(dump).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _manifest(dump: Path) -> dict[str, Any]:
    if not dump.is_file():
        raise BackupError(f"{dump}: no such file")
    path = manifest_path(dump)
    try:
        manifest = json.loads(path.read_text())
        counts = manifest["counts"]
        if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
            raise ValueError("counts must map tables to row counts")
    except FileNotFoundError:
        raise BackupError(f"{path}: missing (made by `manage.py backup` beside the dump)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{path}: not a backup manifest ({exc})") from None
    return dict(manifest)


def backup_check(dump: Path, *, keep: bool = False) -> Check:
    """Restore ``dump`` into a scratch database and compare its tables' rows with the manifest."""
    expected: dict[str, int] = _manifest(dump)["counts"]
    name = f"{settings.DATABASES['default']['NAME']}_restore_check"
    admin = conninfo(application_name="iot-backup-check", database="postgres")
    target = conninfo(application_name="iot-backup-check", database=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("SELECT timescaledb_pre_restore()")
        with dump.open("rb") as source:
            done = subprocess.run(
                [*_tool("pg_restore"), "--dbname", target, "--no-owner", "--exit-on-error"],
                stdin=source, capture_output=True, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()[-500:]
            raise BackupError(f"{dump}: does not restore: {message}")
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("SELECT timescaledb_post_restore()")
            found = table_counts(conn)
    finally:
        if not keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    mismatches = {
        table: (rows, found.get(table))
        for table, rows in expected.items()
        if found.get(table) != rows
    }
    return Check(tables=len(expected), rows=sum(expected.values()), mismatches=mismatches)
