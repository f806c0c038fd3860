"""``manage.py alerts_evaluate``: the alert rule evaluator (``alerts.evaluator``), a long-running
process (``make run`` starts one) reading the readings the ingest processes hand over."""

import logging
import os
import socket
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from alerts.evaluator import Evaluator
from iotplatform import redisplace
from iotplatform.health import alive_mark
from iotplatform.stopping import StopRequested

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Evaluate the alert rules on the readings the ingest processes hand over (a Redis "
        "stream read with a consumer group); --once evaluates what is there and exits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="evaluate what is there, exit")
        parser.add_argument(
            "--consumer",
            default=f"{socket.gethostname()}-{os.getpid()}",
            help="this evaluator's name in the consumer group",
        )
        parser.add_argument("--block-ms", type=int, default=1000)

    def handle(self, *args: Any, **options: Any) -> None:
        client = redisplace.client()
        evaluator = Evaluator(client, options["consumer"])
        if options["once"]:
            count = evaluator.drain()
            self.stdout.write(f"evaluated {count} readings")
            return
        stopping = StopRequested()
        self.stdout.write(f"alert evaluator {options['consumer']} reading {evaluator.key}")
        self.stdout.flush()  # a pipe buffers: the line belongs in the log now, not at exit
        while not stopping:
            close_old_connections()
            try:
                evaluator.step(block_ms=options["block_ms"])
                alive_mark("alerts")  # `manage.py healthcheck alerts`: reading, not stuck
            except Exception:
                logger.exception("alert evaluation failed; retrying in a second")
                time.sleep(1.0)
