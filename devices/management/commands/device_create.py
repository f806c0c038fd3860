from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devices import selectors
from devices.services import device_create
from iotplatform.errors import validation_text

from ._common import tenant_get


class Command(BaseCommand):
    help = (
        "Register a device: manage.py device_create <tenant-slug> <type> <name> "
        "[--serial S] [--location L] [--tag T ...]. The device's token is printed on the last "
        "line, once: it is stored only as a hash."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_slug")
        parser.add_argument("type", help="device type name, e.g. pump")
        parser.add_argument("name")
        parser.add_argument("--serial", default="")
        parser.add_argument("--location", default="")
        parser.add_argument("--tag", action="append", default=[], dest="tags")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_get(options["tenant_slug"])
        device_type = selectors.device_type_get(tenant=tenant, name=options["type"])
        if device_type is None:
            names = ", ".join(
                selectors.device_type_list(tenant=tenant).values_list("name", flat=True)
            )
            raise CommandError(f"No device type {options['type']!r} in {tenant.slug} ({names}).")
        try:
            device, token = device_create(
                tenant=tenant,
                device_type=device_type,
                name=options["name"],
                serial=options["serial"],
                location=options["location"],
                tags=options["tags"],
            )
        except ValidationError as exc:
            raise CommandError(validation_text(exc)) from None
        self.stdout.write(f"Created device {device.name} (serial {device.serial}, id {device.id})")
        self.stdout.write(token)
