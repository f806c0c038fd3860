from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from telemetry.backup import BackupError, backup_check


class Command(BaseCommand):
    help = (
        "Check that a backup restores: restore it into a scratch database on the same server "
        "(TimescaleDB's procedure) and compare every table's rows with the counts taken with "
        "it: manage.py backup_check FILE.dump [--keep]; exit status 1 when they differ"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dump", type=Path)
        parser.add_argument(
            "--keep", action="store_true", help="keep the scratch database <name>_restore_check"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dump: Path = options["dump"]
        try:
            check = backup_check(dump, keep=options["keep"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        if check.mismatches:
            lines = [
                f"{table}: {rows:,} in the backup, {'no table' if found is None else f'{found:,}'}"
                " restored"
                for table, (rows, found) in sorted(check.mismatches.items())
            ]
            raise CommandError(f"{dump}: restored counts differ:\n  " + "\n  ".join(lines))
        self.stdout.write(
            f"{dump}: restores; {check.tables} tables, {check.rows:,} rows, every count equal"
        )
