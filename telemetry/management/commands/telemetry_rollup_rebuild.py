from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from iotplatform.tenancy.models import Tenant
from telemetry.rollups import rollups_rebuild


class Command(BaseCommand):
    help = (
        "Recompute the minute and hour rollups from the raw readings: "
        "manage.py telemetry_rollup_rebuild [--since 2026-01-01T00:00:00Z] [--tenant SLUG]"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", default="2000-01-01T00:00:00+00:00")
        parser.add_argument("--tenant", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            since = datetime.fromisoformat(options["since"])
        except ValueError:
            raise CommandError(f"--since {options['since']!r} is not an ISO-8601 time") from None
        if since.tzinfo is None:
            raise CommandError("--since needs a time zone (Z or +hh:mm)")
        tenant_id = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant with slug {options['tenant']!r}.")
            tenant_id = tenant.id
        with transaction.atomic():
            counts = rollups_rebuild(connection, since=since, tenant_id=tenant_id)
        for table, rows in counts.items():
            self.stdout.write(f"{table}: {rows} buckets")
