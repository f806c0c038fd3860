"""MQTT transport of the simulator: every device keeps its own connection to the platform's
broker, as ThingsBoard devices do — the username is its token, readings go to
``v1/devices/me/telemetry`` at QoS 1, commands arrive on ``v1/devices/me/rpc/request/<id>`` and
are answered on ``v1/devices/me/rpc/response/<id>``.

The connections are paho clients driven by the runner's asyncio loop through paho's socket
callbacks (no thread per device), so one process holds thousands. A device whose connection is
down has its readings spooled by the runner like an HTTP failure; each client reconnects by
itself with backoff, its session (clean session off, the serial as client id) keeping what was in
flight.
"""

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

logger = logging.getLogger("simulator")

TELEMETRY = "v1/devices/me/telemetry"
REQUESTS = "v1/devices/me/rpc/request/+"
RESPONSE = "v1/devices/me/rpc/response/"

# serial, method, params → the device's answer
Obey = Callable[[str, str, dict[str, Any]], dict[str, Any]]


class DeviceConnection:
    """One device's client, its socket watched by the event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        address: tuple[str, int],
        serial: str,
        token: str,
        obey: Obey,
    ):
        self.loop, self.address, self.serial, self.obey = loop, address, serial, obey
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=serial, clean_session=False,
            protocol=mqtt.MQTTv311,
        )  # fmt: skip
        self.client.username_pw_set(token)
        self.client.max_queued_messages_set(10_000)
        self.client.on_socket_open = self._opened
        self.client.on_socket_close = self._closed
        self.client.on_socket_register_write = self._want_write
        self.client.on_socket_unregister_write = self._done_writing
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.ready = False
        self.next_attempt = 0.0
        self.backoff = 1.0

    # paho's socket callbacks: the loop reads and writes when the socket is ready
    def _opened(self, client: mqtt.Client, _u: Any, sock: Any) -> None:
        self.loop.add_reader(sock, client.loop_read)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)

    def _closed(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)
        self.ready = False

    def _want_write(self, client: mqtt.Client, _u: Any, sock: Any) -> None:
        self.loop.add_writer(sock, client.loop_write)

    def _done_writing(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        self.loop.remove_writer(sock)

    def _connected(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            logger.warning("%s: the broker refused the connection (%s)", self.serial, reason)
            return
        self.ready = True
        self.backoff = 1.0
        client.subscribe(REQUESTS, qos=1)

    def _message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        request_id = message.topic.rsplit("/", 1)[-1]
        try:
            request = json.loads(message.payload)
            answer = self.obey(self.serial, str(request["method"]), request.get("params") or {})
        except (ValueError, KeyError, TypeError) as exc:
            answer = {"error": f"bad request: {exc}"}
        client.publish(RESPONSE + request_id, json.dumps(answer), qos=1)

    def connect(self) -> None:
        """Start (or retry) the connection; a refused TCP connection backs off."""
        self.next_attempt = time.monotonic() + self.backoff
        try:
            self.client.connect(*self.address, keepalive=60)
        except OSError as exc:
            self.backoff = min(self.backoff * 2, 30.0)
            logger.debug("%s: broker unreachable (%s)", self.serial, exc)

    def misc(self) -> None:
        """Keepalives and retries, once a second."""
        if self.client.socket() is not None and self.client.loop_misc() == mqtt.MQTT_ERR_SUCCESS:
            return
        if time.monotonic() >= self.next_attempt:
            self.connect()


class MQTTFleet:
    def __init__(self, url: str, tokens: dict[str, str], obey: Obey) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 1883)
        self.tokens = tokens
        self.obey = obey
        self.devices: dict[str, DeviceConnection] = {}
        self.task: asyncio.Task[None] | None = None

    async def start(self, serials: list[str]) -> None:
        loop = asyncio.get_running_loop()
        for i, serial in enumerate(serials):
            device = DeviceConnection(loop, self.address, serial, self.tokens[serial], self.obey)
            self.devices[serial] = device
            device.connect()
            if i % 100 == 99:
                await asyncio.sleep(0)  # let the first CONNACKs in
        self.task = asyncio.create_task(self._misc())

    async def _misc(self) -> None:
        while True:
            for device in self.devices.values():
                device.misc()
            await asyncio.sleep(1.0)

    def publish(self, serial: str, body: bytes) -> bool:
        """True when handed to the device's connection (delivered at least once from there)."""
        device = self.devices.get(serial)
        if device is None or not device.ready:
            return False
        return device.client.publish(TELEMETRY, body, qos=1).rc == mqtt.MQTT_ERR_SUCCESS

    def connected(self) -> int:
        return sum(d.ready for d in self.devices.values())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for device in self.devices.values():
            if device.client.socket() is not None:
                device.client.disconnect()
                device.client.loop_write()
