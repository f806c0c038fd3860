import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from iotplatform.tenancy.models import Tenant
from telemetry.importer import ImportFileError, devices_create_from, readings_import


class Command(BaseCommand):
    help = (
        "Load readings into a tenant: manage.py telemetry_import DIR-or-FILE --tenant SLUG. "
        "A simulator history directory also creates its devices (devices.csv); a CSV in the "
        "export format (long or wide) matches devices by serial. Re-importing stores nothing "
        "twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--no-create-devices", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        path = Path(options["path"])
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        files = [path]
        if path.is_dir():
            if (path / "devices.csv").exists() and not options["no_create_devices"]:
                created = devices_create_from(tenant, path / "devices.csv")
                self.stdout.write(f"Created {len(created)} device(s) from devices.csv")
            files = [p for p in (path / "readings.parquet", path / "readings.csv") if p.exists()][
                :1
            ]
            if not files:
                raise CommandError(f"No readings.csv or readings.parquet in {path}.")

        def progress(read: int, total: int) -> None:
            width = 30
            done = int(width * read / total) if total else width
            sys.stderr.write(
                f"\r[{'#' * done}{'.' * (width - done)}] {read * 100 // max(total, 1)}%"
            )
            sys.stderr.flush()

        for file in files:
            try:
                result = readings_import(tenant=tenant, path=file, progress=progress)
            except ImportFileError as exc:
                raise CommandError(str(exc)) from None
            sys.stderr.write("\n")
            self.stdout.write(
                f"{file.name}: {result.stored:,} readings stored, {result.duplicates:,} already "
                f"there, {result.skipped:,} skipped"
            )
            if result.unknown_devices:
                names = ", ".join(sorted(result.unknown_devices)[:10])
                self.stdout.write(f"Unknown devices (skipped): {names}")
