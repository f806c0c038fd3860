from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from iotplatform.errors import validation_text
from iotplatform.tenancy.services import tenant_create


class Command(BaseCommand):
    help = (
        "Create a tenant: manage.py tenant_create <slug> <name> [--timezone Europe/Paris]. "
        "It starts with the standard device types (pump, motor, compressor, edge gateway, "
        "battery sensor), so device_create <slug> pump … works at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("name")
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = tenant_create(
                slug=options["slug"], name=options["name"], timezone=options["timezone"]
            )
        except ValidationError as exc:
            raise CommandError(validation_text(exc)) from None
        self.stdout.write(f"Created tenant {tenant.slug} ({tenant.name}), id {tenant.id}")
