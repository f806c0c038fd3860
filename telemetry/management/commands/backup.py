from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from telemetry.backup import BackupError, backup_create, manifest_path


class Command(BaseCommand):
    help = (
        "Back up the database (readings hypertable included) with pg_dump, and its row counts "
        "beside it: manage.py backup FILE.dump (then: manage.py backup_check FILE.dump)"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dump", type=Path, help="the dump to write (pg_dump's custom format)")

    def handle(self, *args: Any, **options: Any) -> None:
        dump: Path = options["dump"]
        if not dump.parent.is_dir():
            raise CommandError(f"{dump.parent}: no such directory")
        try:
            manifest = backup_create(dump)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        counts = manifest["counts"]
        self.stdout.write(
            f"{dump}: {dump.stat().st_size:,} bytes, {len(counts)} tables, "
            f"{sum(counts.values()):,} rows ({counts.get('telemetry_reading', 0):,} readings); "
            f"counts in {manifest_path(dump)}"
        )
