"""Readings beyond ±1e15 (or NaN/infinite) stored before values were bounded: removed, and
the rollups and latest values they were part of recomputed (telemetry.rollups.extremes_repair)."""

from typing import Any

from django.db import migrations

from telemetry.rollups import extremes_repair


def forwards(apps: Any, schema_editor: Any) -> None:
    extremes_repair(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0006_rollup_backfill")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
