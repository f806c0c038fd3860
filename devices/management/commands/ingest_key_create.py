from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from devices.services import ingest_key_create

from ._common import tenant_get


class Command(BaseCommand):
    help = (
        "Issue a tenant ingestion key for gateways: manage.py ingest_key_create <tenant-slug> "
        "[--name N]. The key is printed on the last line, once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_slug")
        parser.add_argument("--name", default="gateway")

    def handle(self, *args: Any, **options: Any) -> None:
        key, token = ingest_key_create(
            tenant=tenant_get(options["tenant_slug"]), name=options["name"]
        )
        self.stdout.write(f"Created ingestion key {key.name} ({key.prefix}…)")
        self.stdout.write(token)
