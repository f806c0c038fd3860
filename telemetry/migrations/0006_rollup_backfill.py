"""Fill the new rollups from readings stored before they existed."""

from datetime import UTC, datetime
from typing import Any

from django.db import migrations

from telemetry.rollups import rollups_rebuild


def forwards(apps: Any, schema_editor: Any) -> None:
    rollups_rebuild(schema_editor.connection, since=datetime(2000, 1, 1, tzinfo=UTC))


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0005_rollup_hypertable")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
