import asyncio
import logging
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from telemetry.mqtt.bridge import Bridge


class Command(BaseCommand):
    help = (
        "The MQTT bridge: what devices publish through the platform's broker, into the ingestion "
        "pipeline (QoS 1 acknowledged once stored); keeps the broker's credentials file in step. "
        "Several may run side by side (a shared subscription), each with its own --client-id."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default=None, help="the broker; default MQTT_URL")
        parser.add_argument(
            "--client-id", default="iot-ingest-1", help="its persistent session at the broker"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s mqtt-bridge %(message)s")
        asyncio.run(self._run(options))

    async def _run(self, options: dict[str, Any]) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        bridge = Bridge(url=options["url"], client_id=options["client_id"])
        self.stdout.write(f"bridging {bridge.host}:{bridge.port} into the ingestion pipeline")
        await bridge.run(stop)
        self.stdout.write(f"stopped: {bridge.stats}")
