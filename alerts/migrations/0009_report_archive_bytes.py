"""A report's zip size kept beside it (the pages and the email decide by it without opening
the file)."""

from typing import Any

from django.db import migrations, models


def sizes(apps: Any, schema_editor: Any) -> None:
    ReportRun = apps.get_model("alerts", "ReportRun")
    for run in ReportRun.objects.exclude(archive="").iterator():
        try:
            run.archive_bytes = run.archive.size
        except OSError:  # the file is gone: the size stays unknown
            continue
        run.save(update_fields=["archive_bytes"])


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0008_report_archives"),
    ]

    operations = [
        migrations.AddField(
            model_name="reportrun",
            name="archive_bytes",
            field=models.BigIntegerField(blank=True, help_text="the zip's size", null=True),
        ),
        migrations.RunPython(sizes, migrations.RunPython.noop),
    ]
