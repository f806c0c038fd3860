"""The MQTT bridge: what devices and gateways publish, from the broker into the ingestion
pipeline (the HTTP transport's, not a copy of it).

- It logs in as ``iot-bridge`` with a persistent session (clean session off, a fixed client id)
  and takes its partitions at QoS 1: ``iot/<p>/t/#`` for the 16 partitions p (a device's id
  modulo 16, set by the plugin), all of them, or with ``--part k/n`` those with p % n == k, so
  n bridges share the stream. What is published while a bridge is away waits at the broker, and
  its subscriptions survive a broker restart. (Not MQTT's shared subscriptions: Mosquitto 2.0
  does not restore them from its persistence file, so after a broker restart everything published
  before the bridges were back would be dropped.)
- Each message is acknowledged only once its readings are committed (paho's manual acks): a
  bridge killed mid-stream leaves the unacknowledged ones to be sent again, and the pipeline's
  idempotent write stores nothing twice. While the database is down (503) a message is retried
  with backoff, never dropped; over a device's rate (429) it waits its turn.
- A message the pipeline refuses for good (malformed JSON, nothing valid: 4xx) is acknowledged
  and dropped, the reason logged; the bridge goes on.
- Topics come re-addressed by the broker's plugin: ``iot/<p>/t/<tenant>/d/<device>/telemetry``
  from a device, ``iot/<p>/t/<tenant>/g/<key>/telemetry`` from a gateway (its tenant's devices by
  serial).
- It keeps the broker's credentials file in step (``credentials``): rewritten whenever a
  credential is issued, revoked or deleted, checked every second.
- Commands: every bridge hears devices come and go (``iot/presence/...``, from the plugin) and
  pushes a connected device's pending commands within a second of their issue (or of its
  connecting) on ``iot/rpc/<device>/<id>``, which the plugin hands to that device as ThingsBoard's
  ``v1/devices/me/rpc/request/<id>``; the device's answer on ``v1/devices/me/rpc/response/<id>``
  settles the command (acked or failed) as the HTTP answer does.
"""

import asyncio
import contextlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from asgiref.sync import sync_to_async
from django.conf import settings

from devices.commands import command_fetch
from devices.credentials import DeviceIdentity, GatewayIdentity, Identity
from telemetry.ingest import parse
from telemetry.ingest.errors import IngestError
from telemetry.ingest.pipeline import IngestPipeline
from telemetry.ingest.rpc import rpc_answer

from .credentials import (
    BRIDGE_USERNAME,
    bridge_password,
    credentials_fingerprint,
    credentials_write,
)

logger = logging.getLogger(__name__)

PARTITIONS = 16  # the plugin's plugin_opt_partitions
PRESENCE = "iot/presence/#"  # every bridge hears every device come and go
TOPIC = re.compile(r"^iot/\d{1,4}/t/(\d{1,18})/([dg])/(\d{1,18})/telemetry$")
RESPONSE = re.compile(r"^iot/\d{1,4}/t/(\d{1,18})/d/(\d{1,18})/rpc/response/(\d{1,18})$")
PRESENT = re.compile(r"^iot/presence/(\d{1,18})/(\d{1,18})$")
COMMANDS_EVERY = 1.0  # seconds between looks for commands to push
PENDING_SQL = (
    "SELECT DISTINCT device_id FROM devices_command "
    "WHERE status = 'pending' AND device_id = ANY(%s)"
)
CREDENTIALS_EVERY = 1.0  # seconds
ERROR_EVERY = 5.0  # seconds: a device's last error is recorded at most this often
BATCH_POINTS = 5000  # about this many readings stored in one go (INGEST_MAX_POINTS allows 10,000)
MAX_BACKOFF = 30.0


@dataclass
class BridgeStats:
    received: int = 0
    stored: int = 0  # messages with readings committed (or already there)
    dropped: int = 0  # refused for good, or not for the pipeline
    retried: int = 0
    commands: int = 0  # pushed to devices
    reasons: dict[str, int] = field(default_factory=dict)


class Bridge:
    def __init__(
        self,
        *,
        url: str | None = None,
        part: tuple[int, int] = (0, 1),
        pipeline: IngestPipeline | None = None,
        inflight: int | None = None,
        credentials_file: str | None = None,
    ) -> None:
        parts = urlsplit(url or settings.MQTT_URL)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 1883
        index, count = part
        self.client_id = f"iot-ingest-{index}-of-{count}"
        # this bridge's partitions: the broker keeps their (plain) subscriptions across restarts
        self.subscriptions = [(f"iot/{p}/t/#", 1) for p in range(PARTITIONS) if p % count == index]
        self.pipeline = pipeline or IngestPipeline()
        self.inflight = inflight or settings.MQTT_BRIDGE_INFLIGHT
        self.credentials_file = credentials_file
        self.stats = BridgeStats()
        self.serials: dict[int, str | None] = {}
        self.connected = asyncio.Event()
        self.queue: asyncio.Queue[mqtt.MQTTMessage] = asyncio.Queue()
        self.client: mqtt.Client | None = None
        self.present: set[int] = set()  # devices connected to the broker now
        self.wake = asyncio.Event()  # a device came: look for its commands at once
        self.errors: dict[int, float] = {}  # device → when its last error was recorded

    # --- the broker side (paho's thread) ------------------------------------------------------

    def _client(self, loop: asyncio.AbstractEventLoop) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        client.username_pw_set(BRIDGE_USERNAME, bridge_password())
        client.reconnect_delay_set(min_delay=1, max_delay=10)

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                logger.warning("broker refused the bridge: %s", reason)
                return
            c.subscribe([*self.subscriptions, (PRESENCE, 1)])
            loop.call_soon_threadsafe(self.present.clear)
            c.publish("iot/rpc/presence", b"", qos=1)  # who is connected now
            loop.call_soon_threadsafe(self.connected.set)
            logger.info("bridge connected to %s:%s", self.host, self.port)

        def on_disconnect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            loop.call_soon_threadsafe(self.connected.clear)
            logger.warning("bridge lost the broker (%s); reconnecting", reason)

        def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
            loop.call_soon_threadsafe(self.queue.put_nowait, message)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        return client

    # --- messages -----------------------------------------------------------------------------

    async def _identity(self, topic: str) -> Identity | None:
        found = TOPIC.match(topic)
        if not found:
            return None
        tenant, kind, ident = int(found[1]), found[2], int(found[3])
        if kind == "g":
            return GatewayIdentity(tenant_id=tenant)
        if ident not in self.serials:
            await self.pipeline.start()
            assert self.pipeline.pool is not None
            async with self.pipeline.pool.connection() as conn:
                row = await (
                    await conn.execute(
                        "SELECT serial FROM devices_device WHERE id = %s AND tenant_id = %s",
                        (ident, tenant),
                    )
                ).fetchone()
            self.serials[ident] = row[0] if row else None
        serial = self.serials[ident]
        return None if serial is None else DeviceIdentity(ident, tenant, serial)

    def _drop(self, reason: str, topic: str) -> None:
        self.stats.dropped += 1
        self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + 1
        logger.info("dropped a message on %s: %s", topic, reason)

    async def _refuse(self, identity: Identity, reason: str, topic: str, count: int = 1) -> None:
        """A device's message (or readings of it) not stored: logged, counted, and kept as the
        device's last error (at most every ``ERROR_EVERY`` seconds), shown on its page."""
        for _ in range(count):
            self._drop(reason, topic)
        if not isinstance(identity, DeviceIdentity):
            return
        now = time.monotonic()
        if now - self.errors.get(identity.device_id, -ERROR_EVERY) < ERROR_EVERY:
            return
        self.errors[identity.device_id] = now
        with contextlib.suppress(Exception):  # the database is down: the reason is in the log
            assert self.pipeline.pool is not None
            async with self.pipeline.pool.connection() as conn:
                await conn.execute(
                    "UPDATE devices_device SET last_error = %s, last_error_at = now() "
                    "WHERE id = %s",
                    (f"MQTT: {reason}"[:300], identity.device_id),
                )

    async def handle(self, message: mqtt.MQTTMessage) -> None:
        """Store one message's readings (retrying while storage is down), or take a device's
        answer to a command or its coming and going; then acknowledge."""
        self.stats.received += 1
        if present := PRESENT.match(message.topic):
            self._presence(int(present[2]), message.payload == b"1")
        elif answer := RESPONSE.match(message.topic):
            await self._answer(int(answer[1]), int(answer[2]), int(answer[3]), message)
        else:
            await self._store(message)
        if self.client is not None and message.qos > 0:
            self.client.ack(message.mid, message.qos)

    def _presence(self, device_id: int, here: bool) -> None:
        if here:
            self.present.add(device_id)
            self.wake.set()
        else:
            self.present.discard(device_id)

    async def _answer(
        self, tenant: int, device: int, command: int, message: mqtt.MQTTMessage
    ) -> None:
        identity = await self._identity(f"iot/0/t/{tenant}/d/{device}/telemetry")
        try:
            response = json.loads(message.payload) if message.payload else {}
            if identity is None:
                raise IngestError(404, "unknown device")
            assert isinstance(identity, DeviceIdentity)
            await rpc_answer(identity, command_id=command, response=response)
        except (ValueError, IngestError) as exc:
            reason = exc.message if isinstance(exc, IngestError) else "malformed JSON"
            self._drop(f"answer to command {command}: {reason}", message.topic)

    async def _retrying(
        self, identity: Identity, call: Any, count: int, topic: str
    ) -> IngestError | None:
        """Run ``call()`` (an ingest of ``count`` messages) until it stores them, retrying while
        over a rate or while storage is down; the error when they are refused for good.
        Readings refused among stored ones are the device's last error."""
        backoff = 0.5
        while True:
            try:
                result = await call()
                self.stats.stored += count
                if result.rejected:
                    first = result.errors[0] if result.errors else {}
                    key = f"{first['key']}: " if first.get("key") else ""
                    reason = f"{result.rejected} reading(s) refused: {key}{first.get('reason', '')}"
                    await self._refuse(identity, reason, topic, count=0)
                return None
            except IngestError as exc:
                if exc.status not in (429, 503):
                    return exc
                self.stats.retried += 1
                await asyncio.sleep(exc.retry_after or backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _store(self, message: mqtt.MQTTMessage) -> None:
        identity = await self._identity(message.topic)
        if identity is None:
            self._drop("not a telemetry topic of a known device", message.topic)
            return
        body = bytes(message.payload)
        refused = await self._retrying(
            identity, lambda: self.pipeline.ingest_body(identity, body), 1, message.topic
        )
        if refused is not None:
            await self._refuse(identity, f"{refused.status} {refused.message}", message.topic)

    async def _store_merged(self, topic: str, messages: list[mqtt.MQTTMessage]) -> None:
        """One device's messages stored as one array (one parse, one rate check, one place in
        the group commit); readings sent without a time take their message's arrival. If the
        array is refused as a whole, each message is tried alone, so one bad message costs
        only itself."""
        identity = await self._identity(topic)
        if identity is None:
            for _ in messages:
                self._drop("not a telemetry topic of a known device", topic)
            return
        # paho stamps each message on arrival (monotonic): the wall-clock time of that moment
        offset_ms = (time.time() - time.monotonic()) * 1000
        items: list[Any] = []
        for message in messages:
            try:
                payload = parse.decode(bytes(message.payload))
            except parse.PayloadError as exc:
                await self._refuse(identity, f"400 {exc}", topic)
                continue
            for entry in payload if isinstance(payload, list) else [payload]:
                timed = not isinstance(entry, dict) or "ts" in entry or "values" in entry
                arrived = int(offset_ms + message.timestamp * 1000)
                items.append(entry if timed else {"ts": arrived, "values": entry})
        if not items:
            return
        refused = await self._retrying(
            identity, lambda: self.pipeline.ingest(identity, items), len(messages), topic
        )
        if refused is not None:
            for message in messages:
                await self._store(message)

    async def _push_commands(self) -> None:
        """Hand each connected device its pending commands (marked sent as they go); the HTTP
        long poll keeps serving the devices that are not connected here."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), COMMANDS_EVERY)
            self.wake.clear()
            if not self.present or self.client is None or not self.connected.is_set():
                continue
            try:
                await self.pipeline.start()
                assert self.pipeline.pool is not None
                async with self.pipeline.pool.connection() as conn:
                    rows = await (await conn.execute(PENDING_SQL, (list(self.present),))).fetchall()
                for (device_id,) in rows:
                    while command := await sync_to_async(command_fetch)(device_id=device_id):
                        body = {"method": command.kind, "params": command.payload}
                        topic = f"iot/rpc/{device_id}/{command.id}"
                        self.client.publish(topic, json.dumps(body), qos=1)
                        self.stats.commands += 1
            except Exception:  # the database is down: the commands wait for the next look
                logger.warning("could not push commands", exc_info=True)

    async def _worker(self) -> None:
        """Take what has arrived (up to ``BATCH_POINTS`` readings' worth): each device's
        telemetry messages stored together, everything else one by one; then acknowledge."""
        while True:
            batch = [await self.queue.get()]
            points = batch[0].payload.count(b":")
            while points < BATCH_POINTS and not self.queue.empty():
                batch.append(self.queue.get_nowait())
                points += batch[-1].payload.count(b":")
            try:
                await self.handle_many(batch)
            except Exception:  # a bug must not stop the bridge; the messages come again later
                logger.exception("could not handle %d messages", len(batch))

    async def handle_many(self, messages: list[mqtt.MQTTMessage]) -> None:
        telemetry: dict[str, list[mqtt.MQTTMessage]] = {}
        for message in messages:
            found = TOPIC.match(message.topic)
            if found and found[2] == "d":
                self.stats.received += 1
                telemetry.setdefault(message.topic, []).append(message)
            else:
                await self.handle(message)
        for topic, own in telemetry.items():
            await self._store_merged(topic, own)
            if self.client is not None:
                for message in own:
                    if message.qos > 0:
                        self.client.ack(message.mid, message.qos)

    async def _keep_credentials(self) -> None:
        seen: tuple[object, ...] | None = None
        while True:
            try:
                now = await sync_to_async(credentials_fingerprint)()
                if now != seen:
                    await sync_to_async(credentials_write)(self.credentials_file)
                    seen = now
            except Exception:  # the database is down: the file stays as it was
                logger.warning("could not refresh the broker's credentials", exc_info=True)
            await asyncio.sleep(CREDENTIALS_EVERY)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        loop = asyncio.get_running_loop()
        # the bridge's own login is in the file the broker reads: written before logging in
        with contextlib.suppress(Exception):  # the database is down: the file as it was
            await sync_to_async(credentials_write)(self.credentials_file)
            await asyncio.sleep(CREDENTIALS_EVERY * 1.2)  # the plugin re-reads it within a second
        keeper = asyncio.create_task(self._keep_credentials())
        pusher = asyncio.create_task(self._push_commands())
        self.client = self._client(loop)
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        workers = [asyncio.create_task(self._worker()) for _ in range(self.inflight)]
        try:
            await (stop or asyncio.Event()).wait()
        finally:
            self.client.disconnect()
            self.client.loop_stop()
            for task in [keeper, pusher, *workers]:
                task.cancel()
            for task in [keeper, pusher, *workers]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.pipeline.stop()
