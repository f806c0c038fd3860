"""The minute rollups become a hypertable too (7-day chunks) where TimescaleDB is available, so
retention can drop whole chunks of them; the hourly rollups stay a small plain table."""

from typing import Any

from django.db import migrations

from telemetry.timescale import timescaledb_available


def forwards(apps: Any, schema_editor: Any) -> None:
    if not timescaledb_available(schema_editor.connection):
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    schema_editor.execute(
        "SELECT create_hypertable('telemetry_rollup_1m', by_range('bucket', INTERVAL '7 days'), "
        "if_not_exists => TRUE, migrate_data => TRUE)"
    )


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0004_rollups")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
