"""A lean MQTT 3.1.1 client for the bridge, on the event loop: no thread, no object per message
beyond a tuple.

The bridge receives every device's message, so its client is on the hot path: a general client
(paho) spent about half the bridge's time in its network thread (a topic matcher and a
condition variable per message, then a hand-over to the event loop). This one parses the
frames of each read in one loop and hands them over as one list; the bridge acknowledges QoS 1
messages itself, in one write, once their readings are committed.

What the bridge needs and nothing more: CONNECT (a persistent session), SUBSCRIBE, PUBLISH in
(QoS 0/1) and out (QoS 1, kept and sent again with DUP after a reconnect until acknowledged),
PUBACK, PINGREQ, reconnecting with backoff. Reading pauses while too many received messages
wait to be acknowledged, so a slow database holds messages at the broker, not in memory here.
"""

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

logger = logging.getLogger(__name__)

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 0x82, 0x90, 0xC0, 0xD0, 0xE0
REFUSED = {1: "unacceptable protocol version", 2: "client id rejected", 3: "server unavailable",
           4: "bad user name or password", 5: "not authorised"}  # fmt: skip


class Message(NamedTuple):
    topic: bytes
    payload: bytes
    qos: int
    mid: int  # the broker's packet id (QoS 1), 0 at QoS 0
    arrived: float  # wall clock, seconds: when the read that brought it ended


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _length(len(body)) + body


def publish_packet(topic: str, payload: bytes, qos: int, mid: int = 0, dup: bool = False) -> bytes:
    head = PUBLISH | (qos << 1) | (0x08 if dup else 0)
    return packet(head, _string(topic) + (struct.pack("!H", mid) if qos else b"") + payload)


def puback_packets(mids: Iterable[int]) -> bytes:
    return b"".join(b"\x40\x02" + struct.pack("!H", mid) for mid in mids)


Frames = tuple[list[Message], list[tuple[int, bytes]]]


def parse_frames(buffer: bytearray, arrived: float) -> Frames:
    """The PUBLISH messages and other packets (type, body) complete in ``buffer``, which keeps
    the incomplete rest."""
    messages: list[Message] = []
    others: list[tuple[int, bytes]] = []
    at, end = 0, len(buffer)
    while end - at >= 2:
        head = buffer[at]
        size, shift, i, complete = 0, 0, at + 1, False
        while i < end:  # the remaining length: up to four bytes of 7 bits
            byte = buffer[i]
            i += 1
            size |= (byte & 0x7F) << shift
            if not byte & 0x80:
                complete = True
                break
            shift += 7
            if shift > 21:
                raise ValueError("malformed remaining length")
        if not complete or i + size > end:
            break  # incomplete: wait for more
        if head & 0xF0 == PUBLISH:
            qos = (head >> 1) & 3
            length = (buffer[i] << 8) | buffer[i + 1]
            topic = bytes(buffer[i + 2 : i + 2 + length])
            start = i + 2 + length
            mid = 0
            if qos:
                mid = (buffer[start] << 8) | buffer[start + 1]
                start += 2
            messages.append(Message(topic, bytes(buffer[start : i + size]), qos, mid, arrived))
        else:
            others.append((head & 0xF0, bytes(buffer[i : i + size])))
        at = i + size
    del buffer[:at]
    return messages, others


class _Connection(asyncio.Protocol):
    def __init__(self, client: "MqttClient") -> None:
        self.client = client
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.connack: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.heard = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.heard = time.monotonic()
        self.buffer += data
        try:
            messages, others = parse_frames(self.buffer, time.time())
        except (ValueError, IndexError):
            logger.warning("malformed packet from the broker; reconnecting")
            if self.transport is not None:
                self.transport.close()
            return
        for kind, body in others:
            if kind == CONNACK and not self.connack.done():
                self.connack.set_result(body[1] if len(body) > 1 else 255)
            elif kind == PUBACK and len(body) >= 2:
                self.client.outgoing.pop((body[0] << 8) | body[1], None)
        if messages:
            self.client.received(messages)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.connack.done():
            self.connack.set_exception(ConnectionError("closed before CONNACK"))


class MqttClient:
    """``on_messages(list[Message])`` is called for each read's messages; ``on_connect()`` once
    each (re)connection is accepted, to subscribe. QoS 1 messages are acknowledged with
    :meth:`ack` (the caller's moment: after storing)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        username: str,
        password: str,
        on_messages: Callable[[list[Message]], None],
        on_connect: Callable[[], None],
        keepalive: int = 30,
    ) -> None:
        self.host, self.port, self.keepalive = host, port, keepalive
        self.client_id, self.username, self.password = client_id, username, password
        self.on_messages, self.on_connect = on_messages, on_connect
        self.connection: _Connection | None = None
        self.connected = asyncio.Event()
        self.outgoing: dict[int, bytes] = {}  # QoS 1 publishes not yet acknowledged
        self.paused = False  # reading paused (the caller holds too many messages)
        self._mid = 0

    # --- outgoing -----------------------------------------------------------------------------

    def _next_mid(self) -> int:
        for _ in range(65535):
            self._mid = self._mid % 65535 + 1
            if self._mid not in self.outgoing:
                return self._mid
        raise RuntimeError("65,535 publishes unacknowledged")

    def _write(self, data: bytes) -> None:
        if self.connection is not None and self.connection.transport is not None:
            self.connection.transport.write(data)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        """Send (QoS 1: kept until acknowledged, sent again after a reconnect)."""
        body = payload.encode() if isinstance(payload, str) else payload
        if qos == 0:
            if self.connected.is_set():
                self._write(publish_packet(topic, body, 0))
            return
        mid = self._next_mid()
        self.outgoing[mid] = publish_packet(topic, body, 1, mid, dup=True)
        if self.connected.is_set():
            self._write(publish_packet(topic, body, 1, mid))

    def subscribe(self, topics: list[tuple[str, int]]) -> None:
        body = struct.pack("!H", self._next_mid())
        body += b"".join(_string(topic) + bytes([qos]) for topic, qos in topics)
        self._write(packet(SUBSCRIBE, body))

    def ack(self, mids: list[int]) -> None:
        """Acknowledge received QoS 1 messages (one write). Lost with the connection, in which
        case the broker sends them again (and an acknowledgement sent on the next connection
        of the same session still counts: the ids are the session's)."""
        if mids:
            self._write(puback_packets(mids))

    # --- incoming -----------------------------------------------------------------------------

    def _transport(self) -> asyncio.Transport | None:
        return self.connection.transport if self.connection is not None else None

    def pause(self) -> None:
        """Stop reading (the messages wait at the broker) until :meth:`resume`."""
        if not self.paused and (transport := self._transport()) is not None:
            transport.pause_reading()
        self.paused = True

    def resume(self) -> None:
        if self.paused and (transport := self._transport()) is not None:
            transport.resume_reading()
        self.paused = False

    def received(self, messages: list[Message]) -> None:
        self.on_messages(messages)

    # --- the connection -----------------------------------------------------------------------

    def _connect_packet(self) -> bytes:
        flags = 0x80 | 0x40  # user name, password; clean session off: a persistent session
        body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", self.keepalive)
        body += _string(self.client_id) + _string(self.username) + _string(self.password)
        return packet(CONNECT, body)

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: _Connection(self), self.host, self.port
        )
        assert isinstance(connection, _Connection) and connection.transport is not None
        self.connection = connection
        try:
            connection.transport.write(self._connect_packet())
            code = await asyncio.wait_for(connection.connack, 10)
            if code != 0:
                raise ConnectionRefusedError(REFUSED.get(code, f"CONNACK {code}"))
            if self.paused:  # still holding too many: read on once they are handled
                connection.transport.pause_reading()
            for data in list(self.outgoing.values()):  # with DUP set
                connection.transport.write(data)
            self.connected.set()
            self.on_connect()
            while not connection.closed.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(connection.closed), self.keepalive / 2)
                if connection.closed.done():
                    break
                if time.monotonic() - connection.heard > self.keepalive * 1.5:
                    logger.warning("the broker went silent; reconnecting")
                    break
                connection.transport.write(packet(PINGREQ, b""))
        finally:
            self.connected.clear()
            connection.transport.close()
            self.connection = None

    async def run(self) -> None:
        """Stay connected (backing off 1 s up to 10 s between tries) until cancelled."""
        delay = 1.0
        while True:
            began = time.monotonic()
            try:
                await self._session()
                logger.warning("bridge lost the broker; reconnecting")
            except (TimeoutError, OSError, ConnectionError) as exc:
                logger.warning("bridge could not connect to %s:%s: %s", self.host, self.port, exc)
            delay = 1.0 if time.monotonic() - began > 30 else min(delay * 2, 10.0)
            await asyncio.sleep(delay)

    def disconnect(self) -> None:
        self._write(packet(DISCONNECT, b""))
