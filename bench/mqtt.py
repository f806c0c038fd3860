"""MQTT benchmark: devices publishing through the platform's broker (Mosquitto with its plugin),
the bridge storing into TimescaleDB, beside a raw COPY measured in the same run.

    .venv/bin/python bench/mqtt.py [--devices 100] [--messages 40000] [--publishers 2] [--bridges 1]

1. A scratch database (``iot_bench_mqtt``) with ``--devices`` pumps and their tokens, and a
   viewer; the platform's broker on a free port; one bridge (``manage.py mqtt_ingest``).
2. Raw baseline: binary COPY of 10,000-row batches straight into the readings table (rows/s).
3. Single-reading messages (3 metrics each) at QoS 0 and then QoS 1: ``--publishers`` processes
   (each with its share of the devices, one connection per device, as ThingsBoard devices
   connect; plain sockets writing MQTT frames, as load generators do) publish ``--messages`` in
   all as fast as they can. Sustained rate = messages stored /
   (last stored - first published); every QoS 1 message must be stored exactly once (count
   check); at QoS 0 the loss is printed.
4. Batch messages (`--batch-readings` readings of a pump's 5 metrics, 100 by default; 2,000 is
   the HTTP benchmark's request of 10,000 points): points/s and the ratio to the raw COPY.
5. Publish → open page: uvicorn serves the platform, a socket signed in as the viewer watches
   one pump (the device page's socket); ``--samples`` unique values are published at QoS 1 one
   after another; latency = the event's arrival - the moment before the publish: p50 / p95.

Beside: ThingsBoard's published figure, 5,000 msg/s on two vCPUs at 95 % CPU. Targets (the
issue): ≥ 20,000 msg/s at QoS 0 and ≥ 10,000 at QoS 1.
"""

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from common import (
    BIN,
    ROOT,
    django_env,
    dotenv,
    free_port,
    scratch_database,
    signed_in,
    uvicorn,
)
from ingest import count_and_clear, provision, raw_copy
from websockets.sync.client import connect

T0_MS = 1_700_000_000_000  # readings far in the past: clock checks pass, no overlap with now


def _frame(kind: int, body: bytes) -> bytes:
    size, length = len(body), bytearray()
    while True:
        size, digit = divmod(size, 128)
        length.append(digit | (0x80 if size else 0))
        if not size:
            return bytes([kind]) + bytes(length) + body


def _string(raw: bytes) -> bytes:
    return struct.pack("!H", len(raw)) + raw


def publisher(port: int, tokens: list[str], count: int, qos: int, batch: int, offset: int) -> None:
    """``--publish`` mode (a process of its own): ``count`` messages over ``tokens``' devices,
    one connection per device as ThingsBoard devices connect. A load generator, like the MQTT
    benchmarking tools: plain sockets writing MQTT 3.1.1 frames, so that the machine's cores go
    to the broker and the platform rather than to a client library. At QoS 1 it then reads
    every PUBACK: what it prints is the rate of acknowledged messages."""
    sockets = []
    for token in tokens:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = _string(b"MQTT") + bytes([4, 0x82]) + struct.pack("!H", 60)
        sock.sendall(_frame(0x10, body + _string(b"") + _string(token.encode())))
        assert sock.recv(4) == b"\x20\x02\x00\x00", f"CONNECT refused for {token[:6]}…"
        sockets.append(sock)
    topic = _string(b"v1/devices/me/telemetry")
    head = 0x30 | (qos << 1)
    pending: list[list[bytes]] = [[] for _ in sockets]
    sent = [0] * len(sockets)
    began = time.perf_counter()
    for i in range(count):
        n = offset + i
        k = i % len(sockets)
        ts = T0_MS + (n // len(sockets)) * batch
        if batch == 1:
            body = (
                f'{{"ts":{ts},"values":{{"temperature":{60 + n % 10},'
                f'"pressure":{5 + n % 3},"vibration":{2 + n % 5}}}}}'
            ).encode()
        else:
            body = json.dumps(
                [{"ts": ts + j, "values": {"temperature": 60 + j % 10, "pressure": 5,
                                           "vibration": 2, "flow": 40, "current": 9}}
                 for j in range(batch)]
            ).encode()  # fmt: skip
        sent[k] += 1
        mid = struct.pack("!H", sent[k] % 65535 + 1) if qos else b""
        pending[k].append(_frame(head, topic + mid + body))
        if len(pending[k]) >= 64:
            sockets[k].sendall(b"".join(pending[k]))
            pending[k].clear()
    for sock, frames in zip(sockets, pending, strict=True):
        sock.sendall(b"".join(frames))
    if qos:  # every message acknowledged by the broker: 4 bytes each
        for sock, n in zip(sockets, sent, strict=True):
            got = 0
            while got < 4 * n:
                got += len(sock.recv(65536))
    print(f"PUBLISHED {count / (time.perf_counter() - began):.0f}", flush=True)  # msg/s
    for sock in sockets:
        sock.sendall(b"\xe0\x00")
        sock.close()


def run_load(
    port: int, tokens: list[str], conninfo: str, *, messages: int, qos: int, batch: int,
    publishers: int,
) -> dict[str, float]:  # fmt: skip
    count_and_clear(conninfo)
    share = [tokens[p::publishers] for p in range(publishers)]
    per = messages // publishers
    began = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                str(BIN / "python"),
                __file__,
                "--publish",
                str(port),
                str(qos),
                str(batch),
                str(per),
                str(p * per),
                ",".join(share[p]),
            ],
            cwd=ROOT / "bench",
            stdout=subprocess.PIPE,
            text=True,
        )
        for p in range(publishers)
    ]
    metrics = 3 if batch == 1 else 5  # a batch: the pump's five metrics, as bench/ingest.py's
    expected = per * publishers * batch * metrics
    # Counting is a scan of the table, which costs the database a share of the cores: it is
    # counted every 2 s, and the moment the last reading was stored interpolated between the
    # two counts around it (the rate is steady by then).
    stored, seen, last_change, previous = 0, 0, began, (began, 0)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while True:
            (stored,) = conn.execute("SELECT count(*) FROM telemetry_reading").fetchone()  # type: ignore[misc]
            now = time.perf_counter()
            if stored >= expected:
                at, count = previous
                last_change = at + (now - at) * (expected - count) / max(stored - count, 1)
                break
            if stored != seen:
                seen, last_change = stored, now
            previous = (now, stored)
            done = all(p.poll() is not None for p in procs)
            if (done and now - last_change > 5) or now - began > 600:
                break
            time.sleep(2.0)
    published = 0.0  # the publishers' own rate: what the machine let them offer
    for p in procs:
        out, _ = p.communicate()
        published += sum(float(line.split()[1]) for line in out.splitlines() if "PUBLISHED" in line)
    seconds = last_change - began
    return {
        "messages": per * publishers,
        "stored_points": stored,
        "expected_points": expected,
        "seconds": round(seconds, 2),
        "messages_per_s": round(stored / metrics / batch / seconds),
        "points_per_s": round(stored / seconds),
        "offered_messages_per_s": round(published),
    }


def page_latency(url: str, port: int, token: str, device_id: int, samples: int) -> list[float]:
    session = signed_in(url, "bench-viewer", "bench-pass-2024")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.username_pw_set(token)
    client.connect("127.0.0.1", port)
    client.loop_start()
    out = []
    with connect(
        url.replace("http://", "ws://") + f"/ws/live/device/{device_id}/",
        additional_headers={"Origin": url, "Cookie": f"sessionid={session.cookies['sessionid']}"},
        open_timeout=10,
    ) as ws:
        time.sleep(1.0)
        for i in range(samples):
            value = 1000.0 + i + 0.125
            sent = time.perf_counter()
            client.publish("v1/devices/me/telemetry", json.dumps({"temperature": value}), qos=1)
            deadline = sent + 10
            while time.perf_counter() < deadline:
                frame = ws.recv(timeout=max(0.01, deadline - time.perf_counter()))
                if str(value) in frame:
                    out.append((time.perf_counter() - sent) * 1000)
                    break
            time.sleep(0.37)  # apart, and out of step with the page's 250 ms frames
    client.loop_stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--batch-messages", type=int, default=1_000)
    parser.add_argument(
        "--batch-readings", type=int, default=100, help="readings (5 metrics each) a batch message"
    )
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--bridges", type=int, default=1, help="bridges side by side (--part)")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--raw-rows", type=int, default=300_000)
    args = parser.parse_args()

    database_url = scratch_database(
        dotenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5433/iotplatform"), "iot_bench_mqtt"
    )
    conninfo = database_url.replace("postgres://", "postgresql://", 1)
    work = Path(tempfile.mkdtemp(prefix="iot-bench-mqtt-"))
    print(f"provisioning {args.devices} devices in {database_url} …", file=sys.stderr)
    provision(database_url, args.devices, work / "tokens.txt")
    tokens = (work / "tokens.txt").read_text().split()
    subprocess.run(
        [str(BIN / "python"), "-c", "import django; django.setup(); "
         "from iotplatform.tenancy.services import user_create; "
         "from iotplatform.tenancy.models import Tenant; user_create(tenant=Tenant.objects.get("
         "slug='bench'), username='bench-viewer', role='viewer', password='bench-pass-2024')"],
        cwd=ROOT, check=True, env=django_env(database_url),
    )  # fmt: skip
    raw = raw_copy(conninfo, args.raw_rows)
    count_and_clear(conninfo)

    subprocess.run(["bash", "scripts/broker.sh", "build"], cwd=ROOT, check=True)
    port = free_port()
    config = subprocess.run(
        ["bash", "scripts/broker.sh", "config", str(port), str(work / "credentials"),
         str(work / "data")],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    (work / "data").mkdir()
    (work / "credentials").touch()
    (work / "mosquitto.conf").write_text(config)
    fast = {"INGEST_DEVICE_RATE": "1000000", "INGEST_TENANT_RATE": "100000000"}
    env = django_env(
        database_url, MQTT_URL=f"mqtt://127.0.0.1:{port}",
        MQTT_CREDENTIALS_FILE=str(work / "credentials"),
        REDIS_URL=dotenv("REDIS_URL", "redis://127.0.0.1:6379/0"), LOG_LEVEL="WARNING", **fast,
    )  # fmt: skip
    broker = subprocess.Popen(
        ["/usr/sbin/mosquitto", "-c", str(work / "mosquitto.conf")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    bridges = [
        subprocess.Popen(
            [str(BIN / "python"), "manage.py", "mqtt_ingest", "--part", f"{k}/{args.bridges}"],
            cwd=ROOT, env=env, stdout=(work / f"bridge-{k}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for k in range(args.bridges)
    ]  # fmt: skip
    try:
        time.sleep(4)
        with uvicorn(database_url, workers=1, **fast) as url:
            run_load(port, tokens, conninfo, messages=2000, qos=1, batch=1,
                     publishers=args.publishers)  # fmt: skip  # warm-up
            qos0 = run_load(port, tokens, conninfo, messages=args.messages, qos=0, batch=1,
                            publishers=args.publishers)  # fmt: skip
            qos1 = run_load(port, tokens, conninfo, messages=args.messages, qos=1, batch=1,
                            publishers=args.publishers)  # fmt: skip
            batches = run_load(port, tokens, conninfo, messages=args.batch_messages, qos=1,
                               batch=args.batch_readings, publishers=args.publishers)  # fmt: skip
            count_and_clear(conninfo)
            with psycopg.connect(conninfo) as conn:
                (device_id,) = conn.execute(
                    "SELECT id FROM devices_device ORDER BY id LIMIT 1"
                ).fetchone()  # type: ignore[misc]
            latency = page_latency(url, port, tokens[0], device_id, args.samples)
    finally:
        for proc in (*bridges, broker):
            proc.terminate()
            proc.wait(20)
    cuts = statistics.quantiles(latency, n=20) if len(latency) >= 2 else [float("nan")] * 19
    print()
    print(f"MQTT benchmark — {os.cpu_count()} cores, {args.bridges} bridge(s), "
          f"{args.devices} devices, {args.publishers} publishers, one machine")  # fmt: skip
    print(f"  raw binary COPY (10,000-row transactions)  {raw:>10,.0f} rows/s")
    big = f"QoS 1, {args.batch_readings} readings a message"
    for name, r in (("QoS 0, one reading (3 metrics)", qos0), ("QoS 1, one reading (3 metrics)",
                    qos1), (big, batches)):  # fmt: skip
        lost = r["expected_points"] - r["stored_points"]
        print(f"  {name:<36} {r['messages_per_s']:>8,} msg/s {r['points_per_s']:>10,} points/s"
              f"  ratio to raw COPY {r['points_per_s'] / raw:.0%}  stored {r['stored_points']:,}"
              f" of {r['expected_points']:,} ({lost:,} lost); publishers offered"
              f" {r['offered_messages_per_s']:,} msg/s")  # fmt: skip
    median = statistics.median(latency) if latency else float("nan")
    print(f"  publish → open page ({len(latency)} samples)   p50 {median:.0f} ms"
          f"   p95 {cuts[18]:.0f} ms")  # fmt: skip
    print("  ThingsBoard's published figure: 5,000 msg/s on two vCPUs at 95 % CPU")
    print("JSON " + json.dumps({"raw_copy_rows_per_s": round(raw), "qos0": qos0, "qos1": qos1,
                               "batches": batches, "latency_ms": latency}))  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--publish"]:
        port, qos, batch, count, offset, tokens = sys.argv[2:8]
        publisher(int(port), tokens.split(","), int(count), int(qos), int(batch), int(offset))
    else:
        main()
