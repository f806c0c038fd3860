"""Devices publishing over MQTT through the platform's broker (real Mosquitto with the
platform's plugin) and the bridge (``manage.py mqtt_ingest``) into the ingestion pipeline.

A ThingsBoard-style device (username = its token, topic v1/devices/me/telemetry) is stored as
itself; a wrong or revoked token is refused at CONNECT, and a connected device whose token is
revoked is cut off within seconds; a publish on another device's topic never reaches storage;
a malformed payload is dropped without stopping the bridge; a bridge killed mid-stream loses
nothing: after its restart, stored == published."""

import json
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from devices.models import Device
from devices.services import device_token_revoke, device_token_rotate
from iotplatform.tenancy.models import Tenant
from telemetry.models import Reading
from telemetry.mqtt.credentials import credentials_write

from .. import factories, servers
from ..netcut import Relay

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _client(url: str, username: str, client_id: str = "", clean: bool = True) -> mqtt.Client:
    """A device's MQTT connection as ThingsBoard firmware makes it; raises on a refusal."""
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
        protocol=mqtt.MQTTv311,
    )  # fmt: skip
    client.username_pw_set(username)
    refused: list[Any] = []
    ready = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            refused.append(reason)
        ready.set()

    client.on_connect = on_connect
    client.connect(host, int(port), keepalive=10)
    client.loop_start()
    assert ready.wait(10), "no CONNACK"
    if refused:
        client.loop_stop()
        raise ConnectionRefusedError(str(refused[0]))
    return client


def _bridge_ready() -> None:
    """The bridge has its subscription (its session collects from now on)."""
    log = servers.ARTIFACTS / "mqtt-bridge.log"
    servers.until(lambda: log.exists() and "bridge connected" in log.read_text())
    time.sleep(0.5)


def _stored(device: Device) -> int:
    return Reading.objects.filter(device=device).count()


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    with servers.mqtt_broker(tmp_path) as (url, credentials):
        yield url, credentials


def test_a_thingsboard_device_publishes_as_itself_and_nothing_else(
    broker: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    url, credentials = broker
    device = factories.make_device(tenant, name="Pump 1", serial="P-1")
    token = device_token_rotate(device=device)
    theirs = factories.make_device(other_tenant, name="Press", serial="G-1")
    device_token_rotate(device=theirs)
    with servers.mqtt_bridge(url, credentials):
        _bridge_ready()
        assert "iot-bridge" in credentials.read_text()  # the bridge wrote the file
        with pytest.raises(ConnectionRefusedError):
            _client(url, "not-a-token")
        client = _client(url, token)
        t0 = int(time.time() * 1000)
        for i in range(10):  # both payload shapes, QoS 1 and 0
            body = {"ts": t0 + i, "values": {"temperature": 20.0 + i, "pressure": 3.0}}
            client.publish("v1/devices/me/telemetry", json.dumps(body), qos=1).wait_for_publish(5)
        client.publish("v1/devices/me/telemetry", '{"vibration": 1.5}', qos=0)
        # someone else's topics: refused by the broker, never stored
        client.publish(f"iot/t/{other_tenant.id}/d/{theirs.id}/telemetry", '{"x": 1}', qos=1)
        client.publish("v1/devices/G-1/telemetry", '{"x": 2}', qos=1)
        # a malformed payload is dropped; the bridge carries on
        client.publish("v1/devices/me/telemetry", "{not json", qos=1).wait_for_publish(5)
        client.publish("v1/devices/me/telemetry", '{"current": 7.5}', qos=1).wait_for_publish(5)
        servers.until(lambda: _stored(device) == 10 * 2 + 2)
        time.sleep(1.0)
        client.loop_stop()
    assert _stored(device) == 22
    assert _stored(theirs) == 0 and not Reading.objects.filter(metric="x").exists()
    assert Reading.objects.filter(device=device, metric="current", value=7.5).exists()
    log = (servers.ARTIFACTS / "mqtt-bridge.log").read_text()
    assert "dropped a message" in log and "400" in log
    # the device has no answer to read over MQTT: its page says what was refused and when
    device.refresh_from_db()
    assert device.last_error.startswith("MQTT: 400") and device.last_error_at is not None
    from django.test import Client

    client_page = Client()
    client_page.force_login(factories.make_user(tenant))
    page = client_page.get(f"/devices/{device.id}/").content.decode()
    assert "Last refused message" in page and "MQTT: 400" in page


def test_a_revoked_token_is_cut_off_and_refused_within_seconds(broker: Any, tenant: Tenant) -> None:
    url, credentials = broker
    device = factories.make_device(tenant, name="Pump 1", serial="P-1")
    token = device_token_rotate(device=device)
    with servers.mqtt_bridge(url, credentials):
        _bridge_ready()
        client = _client(url, token)
        gone = threading.Event()
        client.on_disconnect = lambda *args: gone.set()
        device_token_revoke(device=device)
        assert gone.wait(10), "the revoked device stayed connected"
        client.loop_stop()
        with pytest.raises(ConnectionRefusedError):
            _client(url, token)
        # a new token works within seconds of its issue
        fresh = device_token_rotate(device=device)
        deadline = time.monotonic() + 10
        while True:
            try:
                _client(url, fresh).loop_stop()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the new token was never let in"
                time.sleep(0.2)


def test_a_bridge_killed_mid_stream_loses_nothing(broker: Any, tenant: Tenant) -> None:
    url, credentials = broker
    device = factories.make_device(tenant, name="Pump 1", serial="P-1")
    token = device_token_rotate(device=device)
    credentials_write(credentials)
    with servers.mqtt_bridge(url, credentials, INGEST_DEVICE_RATE="100000") as bridge:
        _bridge_ready()  # subscribed: its session now collects what is published
        client = _client(url, token, client_id="pump-1", clean=False)
        t0 = int(time.time() * 1000) - 600_000
        sent = 0

        def publish(count: int) -> Any:
            nonlocal sent
            for _ in range(count):
                body = {"ts": t0 + sent, "values": {"temperature": 20 + sent % 7}}
                info = client.publish("v1/devices/me/telemetry", json.dumps(body), qos=1)
                sent += 1
            return info

        publish(300)
        servers.until(lambda: _stored(device) > 0)
        bridge.kill()  # mid-stream: some stored, some in flight, the rest queued
        publish(300).wait_for_publish(20)
        assert _stored(device) < sent
    with servers.mqtt_bridge(url, credentials, INGEST_DEVICE_RATE="100000"):
        servers.until(lambda: _stored(device) >= sent, timeout=60)
        time.sleep(1.0)
    client.loop_stop()
    assert _stored(device) == sent == 600


def test_a_database_outage_holds_messages_at_the_broker_and_loses_none(
    broker: Any, tenant: Tenant
) -> None:
    """The database cut off from the bridge (a network partition) mid-stream: nothing is
    acknowledged while it is away, the bridge stays up, and once it is back every message is
    stored exactly once."""
    url, credentials = broker
    device = factories.make_device(tenant, name="Pump 1", serial="P-1")
    token = device_token_rotate(device=device)
    credentials_write(credentials)
    relay = Relay(*servers.database_address())
    env = {"DATABASE_URL": servers.database_url(port=relay.port), "INGEST_DEVICE_RATE": "100000"}
    try:
        with servers.mqtt_bridge(url, credentials, **env) as bridge:
            _bridge_ready()
            client = _client(url, token, client_id="pump-1", clean=False)
            t0 = int(time.time() * 1000) - 600_000
            for n in range(200):
                body = {"ts": t0 + n, "values": {"temperature": 20 + n % 7}}
                client.publish("v1/devices/me/telemetry", json.dumps(body), qos=1)
            servers.until(lambda: _stored(device) == 200)
            relay.cut()
            for n in range(200, 400):
                body = {"ts": t0 + n, "values": {"temperature": 20 + n % 7}}
                info = client.publish("v1/devices/me/telemetry", json.dumps(body), qos=1)
            info.wait_for_publish(20)  # the broker has them all
            time.sleep(4)
            assert _stored(device) == 200  # nothing written while the database is away
            assert bridge.poll() is None
            relay.restore()
            servers.until(lambda: _stored(device) >= 400, timeout=60)
            time.sleep(1.0)
            client.loop_stop()
    finally:
        relay.close()
    assert _stored(device) == 400


def test_a_gateway_publishes_for_its_tenants_devices_only(
    broker: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    from devices.services import ingest_key_create

    url, credentials = broker
    ours = factories.make_device(tenant, name="Pump 1", serial="P-1")
    theirs = factories.make_device(other_tenant, name="Press", serial="G-1")
    _, key = ingest_key_create(tenant=tenant)
    with servers.mqtt_bridge(url, credentials):
        _bridge_ready()
        gateway = _client(url, key)
        ts = int(time.time() * 1000)
        body = {"P-1": [{"ts": ts, "values": {"temperature": 21.0}}],
                "G-1": [{"ts": ts, "values": {"temperature": 99.0}}]}  # fmt: skip
        gateway.publish("v1/gateway/telemetry", json.dumps(body), qos=1).wait_for_publish(5)
        # a gateway may not pose as a device of its own
        gateway.publish("v1/devices/me/telemetry", '{"temperature": 5.0}', qos=1)
        servers.until(lambda: _stored(ours) == 1)
        time.sleep(1.0)
        gateway.loop_stop()
    assert _stored(theirs) == 0  # another tenant's serial is not this gateway's
    assert Reading.objects.get(device=ours).value == 21.0


def test_a_command_is_pushed_to_the_connected_device_alone_and_its_answer_settles_it(
    broker: Any, tenant: Tenant
) -> None:
    import queue

    from devices.commands import command_issue
    from devices.models import Command, CommandKind

    url, credentials = broker
    operator = factories.make_user(tenant, "operator")
    pump = factories.make_device(tenant, name="Pump 1", serial="P-1")
    other = factories.make_device(tenant, name="Pump 2", serial="P-2")
    tokens = {d.id: device_token_rotate(device=d) for d in (pump, other)}
    with servers.mqtt_bridge(url, credentials):
        _bridge_ready()
        received: dict[int, queue.Queue[Any]] = {}
        clients = {}
        for device in (pump, other):
            inbox: queue.Queue[Any] = queue.Queue()
            client = _client(url, tokens[device.id])
            client.on_message = lambda _c, _u, m, inbox=inbox: inbox.put(m)
            client.subscribe("v1/devices/me/rpc/request/+", qos=1)
            received[device.id], clients[device.id] = inbox, client
        time.sleep(1.0)  # subscribed, and the bridge heard both come
        command = command_issue(device=pump, kind=CommandKind.RESTART, payload={}, by=operator)
        message = received[pump.id].get(timeout=10)  # pushed within a second or so
        assert message.topic == f"v1/devices/me/rpc/request/{command.id}"
        assert json.loads(message.payload) == {"method": "restart", "params": {}}
        assert Command.objects.get(pk=command.id).status == "sent"
        clients[pump.id].publish(
            f"v1/devices/me/rpc/response/{command.id}", json.dumps({"ok": True}), qos=1
        )
        servers.until(lambda: Command.objects.get(pk=command.id).status == "acked")
        assert received[other.id].empty()  # the other device heard nothing
        # a device that connects later gets what was issued while it was away
        clients[other.id].disconnect()
        clients[other.id].loop_stop()
        time.sleep(0.5)
        later = command_issue(device=other, kind=CommandKind.RESTART, payload={}, by=operator)
        assert Command.objects.get(pk=later.id).status == "pending"  # not pushed into the void
        inbox = queue.Queue()
        client = _client(url, tokens[other.id])
        client.on_message = lambda _c, _u, m: inbox.put(m)
        client.subscribe("v1/devices/me/rpc/request/+", qos=1)
        message = inbox.get(timeout=10)
        assert message.topic == f"v1/devices/me/rpc/request/{later.id}"
        client.loop_stop()
        clients[pump.id].loop_stop()


def test_an_unmodified_thingsboard_device_sdk_sends_and_answers_a_command(
    broker: Any, tenant: Tenant
) -> None:
    import subprocess

    from devices.commands import command_issue
    from devices.models import Command, CommandKind

    url, credentials = broker
    device = factories.make_device(tenant, name="Pump 1", serial="P-1")
    token = device_token_rotate(device=device)
    port = url.rsplit(":", 1)[1]
    sdk = servers.ROOT / ".venv-tb" / "bin" / "python"
    assert sdk.exists(), "make install puts ThingsBoard's SDK in .venv-tb"
    with servers.mqtt_bridge(url, credentials):
        _bridge_ready()
        device_process = subprocess.Popen(
            [str(sdk), str(servers.ROOT / "tests" / "telemetry" / "tb_device.py"), port, token,
             "15"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            servers.until(lambda: _stored(device) == 2)
            command = command_issue(device=device, kind=CommandKind.RESTART, payload={})
            servers.until(lambda: Command.objects.get(pk=command.id).status == "acked")
        finally:
            device_process.kill()
            output = device_process.communicate(timeout=10)[0]
    assert "telemetry 0" in output and f"rpc {command.id} restart" in output, output
    assert Reading.objects.get(device=device, metric="temperature").value == 41.2
