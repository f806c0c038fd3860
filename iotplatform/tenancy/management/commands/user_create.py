from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from iotplatform.errors import validation_text
from iotplatform.tenancy.models import Role, Tenant
from iotplatform.tenancy.services import user_create


class Command(BaseCommand):
    help = (
        "Create a person in a tenant: manage.py user_create <tenant-slug> <username> "
        "--role operator [--password P] [--email E]. Prints a generated password unless one "
        "is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_slug")
        parser.add_argument("username")
        parser.add_argument("--role", choices=Role.values, default=Role.VIEWER)
        parser.add_argument("--password", default=None)
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = Tenant.objects.get(slug=options["tenant_slug"])
        except Tenant.DoesNotExist:
            raise CommandError(f"No tenant with slug {options['tenant_slug']!r}.") from None
        try:
            user, password = user_create(
                tenant=tenant,
                username=options["username"],
                role=options["role"],
                password=options["password"],
                email=options["email"],
            )
        except ValidationError as exc:
            raise CommandError(validation_text(exc)) from None
        self.stdout.write(f"Created {user.username} as {options['role']} in {tenant.slug}")
        if not options["password"]:
            self.stdout.write(f"Password: {password}")
