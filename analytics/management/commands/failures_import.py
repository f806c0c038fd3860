from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.failures import FailureFileError, failures_import
from iotplatform.tenancy.models import Tenant


class Command(BaseCommand):
    help = (
        "Load run-to-failure labels (a history's failures.csv: device serial, failure mode, "
        "failed and repaired times in ms) for the RUL models: "
        "manage.py failures_import DIR-or-FILE --tenant SLUG. Re-importing stores nothing twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--tenant", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        path: Path = options["path"]
        if path.is_dir():
            path = path / "failures.csv"
        try:
            result = failures_import(tenant=tenant, path=path)
        except FailureFileError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{path.name}: {result.rows} failures read, {result.stored} new, "
            f"{result.rows - result.stored - result.skipped} already there"
        )
        if result.unknown_devices:
            names = ", ".join(sorted(result.unknown_devices)[:10])
            self.stdout.write(f"Unknown devices (skipped): {names}")
