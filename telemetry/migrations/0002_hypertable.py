"""Turn the readings table into a TimescaleDB hypertable where TimescaleDB is available.

On PostgreSQL without the extension (or without it preloaded) the table stays a plain table and
everything else works the same: the unique key, the queries (``date_bin`` instead of
``time_bucket``) and retention (batched deletes instead of ``drop_chunks``). This is a plain
migration rather than the django-timescaledb package, which drops the table's primary key and
fails outright on plain PostgreSQL.
"""

from typing import Any

from django.db import migrations

from telemetry.timescale import READINGS_TABLE, timescaledb_available

CHUNK_INTERVAL = "1 day"


def forwards(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if not timescaledb_available(connection):
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    schema_editor.execute(
        f"SELECT create_hypertable('{READINGS_TABLE}', by_range('time', INTERVAL '{CHUNK_INTERVAL}'), "
        "if_not_exists => TRUE, migrate_data => TRUE)"
    )


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
