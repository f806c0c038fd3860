import asyncio
import logging
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from telemetry.mqtt.bridge import PARTITIONS, Bridge


class Command(BaseCommand):
    help = (
        "The MQTT bridge: what devices publish through the platform's broker, into the ingestion "
        "pipeline (QoS 1 acknowledged once stored); keeps the broker's credentials file in step. "
        "Several may run side by side, each with its --part k/n of the topic partitions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default=None, help="the broker; default MQTT_URL")
        parser.add_argument(
            "--part",
            default="0/1",
            help="k/n: this bridge takes the partitions p with p % n == k (n bridges side by side)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s mqtt-bridge %(message)s")
        asyncio.run(self._run(options))

    async def _run(self, options: dict[str, Any]) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            index, count = (int(v) for v in options["part"].split("/"))
            assert 0 <= index < count <= PARTITIONS
        except (ValueError, AssertionError):
            raise CommandError(f"--part: k/n with 0 <= k < n <= {PARTITIONS}") from None
        bridge = Bridge(url=options["url"], part=(index, count))
        self.stdout.write(f"bridging {bridge.host}:{bridge.port} into the ingestion pipeline")
        await bridge.run(stop)
        self.stdout.write(f"stopped: {bridge.stats}")
