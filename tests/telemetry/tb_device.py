"""An unmodified ThingsBoard device, written with ThingsBoard's own SDK (tb-mqtt-client, run
from .venv-tb): it sends telemetry, answers every server-side RPC with {"ok": true}, and stays
connected for the seconds given. Usage: tb_device.py PORT TOKEN SECONDS"""

import sys
import time

from tb_device_mqtt import TBDeviceMqttClient

port, token, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
client = TBDeviceMqttClient("127.0.0.1", port=port, username=token)


def on_rpc(request_id: int, body: dict) -> None:
    print("rpc", request_id, body.get("method"), flush=True)
    client.send_rpc_reply(request_id, {"ok": True})


client.set_server_side_rpc_request_handler(on_rpc)
client.connect()
print("telemetry", client.send_telemetry({"temperature": 41.2, "vibration": 2.5}).get(), flush=True)
time.sleep(seconds)
client.disconnect()
