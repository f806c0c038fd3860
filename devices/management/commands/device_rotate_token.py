from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from devices.services import device_token_rotate

from ._common import device_get, tenant_get


class Command(BaseCommand):
    help = (
        "Revoke a device's tokens and issue a new one: manage.py device_rotate_token "
        "<tenant-slug> <serial-or-id>. The new token is printed on the last line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_slug")
        parser.add_argument("device", help="serial or id")

    def handle(self, *args: Any, **options: Any) -> None:
        device = device_get(tenant_get(options["tenant_slug"]), options["device"])
        token = device_token_rotate(device=device)
        self.stdout.write(f"Revoked the old tokens of {device.name} ({device.serial})")
        self.stdout.write(token)
