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

from asgiref.sync import sync_to_async
from django.conf import settings

from devices.commands import command_fetch
from devices.credentials import DeviceIdentity, GatewayIdentity, Identity
from iotplatform.health import alive_mark
from telemetry.ingest import parse
from telemetry.ingest.errors import IngestError
from telemetry.ingest.pipeline import IngestPipeline
from telemetry.ingest.rpc import rpc_answer

from .client import Message, MqttClient
from .credentials import (
    BRIDGE_USERNAME,
    bridge_password,
    credentials_fingerprint,
    credentials_write,
)

logger = logging.getLogger(__name__)

PARTITIONS = 16  # the plugin's plugin_opt_partitions
PRESENCE = "iot/presence/#"  # every bridge hears every device come and go
TOPIC = re.compile(rb"^iot/\d{1,4}/t/(\d{1,18})/([dg])/(\d{1,18})/telemetry$")
RESPONSE = re.compile(rb"^iot/\d{1,4}/t/(\d{1,18})/d/(\d{1,18})/rpc/response/(\d{1,18})$")
PRESENT = re.compile(rb"^iot/presence/(\d{1,18})/(\d{1,18})$")
COMMANDS_EVERY = 1.0  # seconds between looks for commands to push
PENDING_SQL = (
    "SELECT DISTINCT device_id FROM devices_command "
    "WHERE status = 'pending' AND device_id = ANY(%s)"
)
CREDENTIALS_EVERY = 1.0  # seconds
ALIVE_NAME = "mqtt"  # its liveness mark (iotplatform.health.alive_mark)
ERROR_EVERY = 5.0  # seconds: a device's last error is recorded at most this often
BATCH_POINTS = 5000  # about this many readings handled as one lot
MAX_HELD = 50_000  # messages received and not yet handled: reading pauses beyond (at the broker)
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
        self.slots = asyncio.Semaphore(inflight or settings.MQTT_BRIDGE_INFLIGHT)
        self.credentials_file = credentials_file
        self.stats = BridgeStats()
        self.identities: dict[bytes, Identity | None] = {}  # by telemetry topic
        self.incoming: list[Message] = []  # received, not yet taken into a lot
        self.held = 0  # received and not yet handled (acknowledged)
        self.arrived = asyncio.Event()
        self.client: MqttClient | None = None
        self.present: set[int] = set()  # devices connected to the broker now
        self.wake = asyncio.Event()  # a device came: look for its commands at once
        self.errors: dict[int, float] = {}  # device → when its last error was recorded
        self.tasks: set[asyncio.Task[None]] = set()

    # --- the broker side ----------------------------------------------------------------------

    def _connected(self) -> None:
        assert self.client is not None
        self.client.subscribe([*self.subscriptions, (PRESENCE, 1)])
        self.present.clear()
        self.client.publish("iot/rpc/presence", b"", qos=1)  # who is connected now
        logger.info("bridge connected to %s:%s", self.host, self.port)

    def _received(self, messages: list[Message]) -> None:
        self.incoming.extend(messages)
        self.held += len(messages)
        if self.held >= MAX_HELD and self.client is not None:
            self.client.pause()
        self.arrived.set()

    # --- messages -----------------------------------------------------------------------------

    async def _identity(self, topic: bytes) -> Identity | None:
        if topic in self.identities:
            return self.identities[topic]
        found = TOPIC.match(topic)
        if not found:
            return None
        tenant, kind, ident = int(found[1]), found[2], int(found[3])
        identity: Identity | None = GatewayIdentity(tenant_id=tenant)
        if kind == b"d":
            await self.pipeline.start()
            assert self.pipeline.pool is not None
            async with self.pipeline.pool.connection() as conn:
                row = await (
                    await conn.execute(
                        "SELECT serial FROM devices_device WHERE id = %s AND tenant_id = %s",
                        (ident, tenant),
                    )
                ).fetchone()
            identity = DeviceIdentity(ident, tenant, row[0]) if row else None
        if len(self.identities) > 200_000:
            self.identities.clear()
        self.identities[topic] = identity
        return identity

    def _drop(self, reason: str, topic: bytes) -> None:
        self.stats.dropped += 1
        self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + 1
        logger.info("dropped a message on %s: %s", topic.decode(errors="replace"), reason)

    async def _refuse(self, identity: Identity, reason: str, topic: bytes, count: int = 1) -> None:
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

    def _presence(self, device_id: int, here: bool) -> None:
        if here:
            self.present.add(device_id)
            self.wake.set()
        else:
            self.present.discard(device_id)

    async def _answer(self, tenant: int, device: int, command: int, message: Message) -> None:
        identity = await self._identity(f"iot/0/t/{tenant}/d/{device}/telemetry".encode())
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
        self, identity: Identity, call: Any, count: int, topic: bytes
    ) -> IngestError | None:
        """Run ``call()`` (an ingest of ``count`` messages) until it stores them, retrying while
        over a rate or while storage is down; the error when they are refused for good."""
        backoff = 0.5
        while True:
            try:
                await self._stored(identity, await call(), count, topic)
                return None
            except IngestError as exc:
                if exc.status not in (429, 503):
                    return exc
                self.stats.retried += 1
                await asyncio.sleep(exc.retry_after or backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _stored(self, identity: Identity, result: Any, count: int, topic: bytes) -> None:
        """Count stored messages; readings refused among stored ones are the device's last
        error."""
        self.stats.stored += count
        if result.rejected:
            first = result.errors[0] if result.errors else {}
            key = f"{first['key']}: " if first.get("key") else ""
            reason = f"{result.rejected} reading(s) refused: {key}{first.get('reason', '')}"
            await self._refuse(identity, reason, topic, count=0)

    async def _store(self, identity: Identity, message: Message) -> None:
        """One message alone (a gateway's, or one of a device's lot refused as a whole)."""
        refused = await self._retrying(
            identity,
            lambda: self.pipeline.ingest_body(identity, message.payload),
            1,
            message.topic,
        )
        if refused is not None:
            await self._refuse(identity, f"{refused.status} {refused.message}", message.topic)

    async def _merged(self, identity: Identity, topic: bytes, own: list[Message]) -> list[Any]:
        """One device's messages as one array; readings sent without a time take their
        message's arrival. A message that is not JSON is refused alone."""
        items: list[Any] = []
        for message in own:
            try:
                payload = parse.decode(message.payload)
            except parse.PayloadError as exc:
                await self._refuse(identity, f"400 {exc}", topic)
                continue
            arrived = int(message.arrived * 1000)
            for entry in payload if isinstance(payload, list) else [payload]:
                timed = not isinstance(entry, dict) or "ts" in entry or "values" in entry
                items.append(entry if timed else {"ts": arrived, "values": entry})
        return items

    async def handle(self, messages: list[Message]) -> None:
        """A lot of messages: each device's telemetry merged into one array and the lot stored
        in one go (one rate check, one group commit); a gateway's messages and anything the
        pipeline refuses for a device's array are stored one by one, then every QoS 1 message
        of the lot is acknowledged (one write)."""
        telemetry: dict[bytes, list[Message]] = {}
        singles: list[tuple[Identity, Message]] = []
        for message in messages:
            self.stats.received += 1
            topic = message.topic
            if present := PRESENT.match(topic):
                self._presence(int(present[2]), message.payload == b"1")
            elif answer := RESPONSE.match(topic):
                await self._answer(int(answer[1]), int(answer[2]), int(answer[3]), message)
            elif (identity := await self._identity(topic)) is None:
                self._drop("not a telemetry topic of a known device", topic)
            elif isinstance(identity, DeviceIdentity):
                telemetry.setdefault(topic, []).append(message)
            else:
                singles.append((identity, message))
        lots: list[tuple[Identity, bytes, list[Message], list[Any]]] = []
        for topic, own in telemetry.items():
            identity = self.identities[topic]
            assert identity is not None
            if items := await self._merged(identity, topic, own):
                lots.append((identity, topic, own, items))
        results = await self.pipeline.ingest_many([(i, b, len(own)) for i, _, own, b in lots])
        for (identity, topic, own, items), result in zip(lots, results, strict=True):
            if not isinstance(result, IngestError):
                await self._stored(identity, result, len(own), topic)
            elif result.status in (429, 503):
                again = lambda i=identity, b=items: self.pipeline.ingest(i, b)  # noqa: E731
                refused = await self._retrying(identity, again, len(own), topic)
                if refused is not None:
                    await self._refuse(identity, f"{refused.status} {refused.message}", topic)
            else:  # refused as a whole: each message alone, so one bad message costs only itself
                for message in own:
                    await self._store(identity, message)
        for identity, message in singles:
            await self._store(identity, message)
        if self.client is not None:
            self.client.ack([m.mid for m in messages if m.qos])

    async def _lots(self) -> None:
        """Take what has arrived in lots of about ``BATCH_POINTS`` readings, each handled in a
        task of its own (up to ``MQTT_BRIDGE_INFLIGHT`` at once)."""
        while True:
            await self.arrived.wait()
            self.arrived.clear()
            while self.incoming:
                taken, points = 0, 0
                while taken < len(self.incoming) and points < BATCH_POINTS:
                    points += self.incoming[taken].payload.count(b":")
                    taken += 1
                lot = self.incoming[:taken]
                del self.incoming[:taken]
                await self.slots.acquire()
                task = asyncio.create_task(self._handle_lot(lot))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def _handle_lot(self, lot: list[Message]) -> None:
        """Handle a lot until it is through: anything else failing (the database gone while a
        device's serial is looked up or a command answered) has it handled again after a
        backoff — never dropped unacknowledged, which the broker would not send again before
        the bridge reconnects. Storing it twice stores nothing twice."""
        backoff = 0.5
        try:
            while True:
                try:
                    await self.handle(lot)
                    return
                except Exception:
                    logger.exception(
                        "could not handle %d messages; again in %.1f s", len(lot), backoff
                    )
                    self.stats.retried += 1
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            self.slots.release()
            self.held -= len(lot)
            if self.held < MAX_HELD // 2 and self.client is not None:
                self.client.resume()

    async def _push_commands(self) -> None:
        """Hand each connected device its pending commands (marked sent as they go); the HTTP
        long poll keeps serving the devices that are not connected here."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), COMMANDS_EVERY)
            self.wake.clear()
            client = self.client
            if not self.present or client is None or not client.connected.is_set():
                continue
            try:
                await self.pipeline.start()
                assert self.pipeline.pool is not None
                async with self.pipeline.pool.connection() as conn:
                    rows = await (await conn.execute(PENDING_SQL, (list(self.present),))).fetchall()
                for (device_id,) in rows:
                    while command := await sync_to_async(command_fetch)(device_id=device_id):
                        body = {"method": command.kind, "params": command.payload}
                        client.publish(f"iot/rpc/{device_id}/{command.id}", json.dumps(body))
                        self.stats.commands += 1
            except Exception:  # the database is down: the commands wait for the next look
                logger.warning("could not push commands", exc_info=True)

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
            if self.client is not None and self.client.connected.is_set():
                alive_mark(ALIVE_NAME)  # `manage.py healthcheck mqtt`: at the broker, not stuck
            await asyncio.sleep(CREDENTIALS_EVERY)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        # the bridge's own login is in the file the broker reads: written before logging in
        with contextlib.suppress(Exception):  # the database is down: the file as it was
            await sync_to_async(credentials_write)(self.credentials_file)
            await asyncio.sleep(CREDENTIALS_EVERY * 1.2)  # the plugin re-reads it within a second
        self.client = MqttClient(
            self.host,
            self.port,
            client_id=self.client_id,
            username=BRIDGE_USERNAME,
            password=bridge_password(),
            on_messages=self._received,
            on_connect=self._connected,
        )
        background = [
            asyncio.create_task(self._keep_credentials()),
            asyncio.create_task(self._push_commands()),
            asyncio.create_task(self._lots()),
            asyncio.create_task(self.client.run()),
        ]
        try:
            await (stop or asyncio.Event()).wait()
        finally:
            self.client.disconnect()
            for task in [*background, *self.tasks]:
                task.cancel()
            for task in [*background, *self.tasks]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.pipeline.stop()
