from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from devices.simulation import Supervisor


class Command(BaseCommand):
    help = (
        "Run the simulated fleets the tenants asked for (start/stop/restart from the API): "
        "manage.py simulator_supervise --url http://127.0.0.1:8000 [--state-dir .simulator]"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="the platform the devices report to")
        parser.add_argument("--state-dir", default=".simulator")
        parser.add_argument("--every", type=float, default=2.0, help="seconds between checks")

    def handle(self, *args: Any, **options: Any) -> None:
        supervisor = Supervisor(url=options["url"], state_root=Path(options["state_dir"]))
        self.stdout.write(f"supervising simulated fleets against {options['url']}")
        supervisor.run(every=options["every"])
