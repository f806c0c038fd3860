import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from alerts.rules import rules_install_defaults
from analytics.tasks import training_run_execute
from analytics.training import training_runs_nightly
from devices.models import SimulatedFleet
from devices.services import device_types_install_catalog
from iotplatform.tenancy.models import Role, Tenant
from iotplatform.tenancy.services import membership_set
from simulator.fleet import Rates, make_fleet
from simulator.history import generate
from simulator.state import WEAR_FILE
from telemetry.models import Reading

DEMO_TENANTS = [
    ("acme", "Acme Plant", "Europe/Berlin"),
    ("globex", "Globex Foundry", "America/Chicago"),
]
DEMO_PEOPLE = [
    ("acme", "acme-admin", Role.ADMIN),
    ("acme", "acme-operator", Role.OPERATOR),
    ("acme", "acme-viewer", Role.VIEWER),
    ("globex", "globex-admin", Role.ADMIN),
]


class Command(BaseCommand):
    help = (
        "Create (idempotently) the demo tenants Acme Plant and Globex Foundry with their people, "
        "and a platform superuser; prints the logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password", default="demo-pass-2024", help="password of every demo login"
        )
        parser.add_argument(
            "--simulate",
            type=int,
            default=None,
            metavar="DEVICES",
            help="have Acme's simulated fleet of this many devices running (make run)",
        )
        parser.add_argument(
            "--history-hours",
            type=int,
            default=0,
            metavar="HOURS",
            help="with --simulate: give the fleet this much history (one reading per 30 s), "
            "once — skipped when Acme already has readings",
        )
        parser.add_argument(
            "--state-dir",
            default=".simulator",
            help="the simulator's state directory (simulator_supervise's): the live fleet "
            "continues the wear the history ends with",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.setup(**options)
        if options["simulate"] and options["history_hours"]:
            self.history(
                devices=options["simulate"],
                hours=options["history_hours"],
                state_dir=Path(options["state_dir"]),
            )

    def history(self, *, devices: int, hours: int, state_dir: Path) -> None:
        """The simulator's history of the same seeded fleet, imported: the same serials the live
        fleet provisions, so charts of the last day are full from the first minute. The plant
        is in service (its devices some way into their lives), and the live fleet picks up each
        device's wear where the history leaves it (``wear.json`` in Acme's state directory)."""
        tenant = Tenant.objects.get(slug="acme")
        if Reading.objects.filter(tenant=tenant).exists():
            return
        fleet = SimulatedFleet.objects.get(tenant=tenant)
        rates = Rates()
        end = time.time() // 60 * 60
        with tempfile.TemporaryDirectory() as directory:
            generate(
                make_fleet(devices, fleet.seed, rates),
                Path(directory),
                start=end - hours * 3600,
                end=end,
                interval=30,
                rates=rates,
                in_service=True,
            )
            call_command("telemetry_import", directory, tenant="acme", stdout=self.stderr)
            call_command("failures_import", directory, tenant="acme", stdout=self.stderr)
            (state_dir / tenant.slug).mkdir(parents=True, exist_ok=True)
            shutil.move(Path(directory) / WEAR_FILE, state_dir / tenant.slug / WEAR_FILE)
        # Models from the imported day, trained by the worker as soon as it runs (the nightly
        # retrain keeps them fresh after that).
        for run in training_runs_nightly():
            if run.status == "queued":
                training_run_execute.delay(run.pk)

    @transaction.atomic
    def setup(self, **options: Any) -> None:
        User = get_user_model()
        password = options["password"]
        tenants = {}
        for slug, name, tz in DEMO_TENANTS:
            tenants[slug], _ = Tenant.objects.get_or_create(
                slug=slug, defaults={"name": name, "timezone": tz}
            )
        rows = []
        for slug, username, role in DEMO_PEOPLE:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.save()
            membership_set(tenant=tenants[slug], user=user, role=role)
            rows.append((username, f"{role} of {tenants[slug].name}"))
        for tenant in tenants.values():
            device_types_install_catalog(tenant=tenant)
            rules_install_defaults(tenant=tenant)
        staff, created = User.objects.get_or_create(
            username="platform", defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            staff.set_password(password)
            staff.save()
        rows.append(("platform", "platform staff (Django admin, every tenant)"))
        if options["simulate"]:
            SimulatedFleet.objects.update_or_create(
                tenant=tenants["acme"],
                defaults={"desired": SimulatedFleet.State.RUNNING, "devices": options["simulate"]},
            )
        self.stdout.write(f"Logins (password for all: {password}):")
        for username, what in rows:
            self.stdout.write(f"  {username:<15} {what}")
