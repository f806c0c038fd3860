"""Commands for devices over ThingsBoard's server-side RPC, transport-free.

A device asks for its next command, waiting up to a limit (HTTP long poll today; an MQTT
transport pushes instead), and answers it by id. The command lifecycle itself is the devices
app's (``devices.commands``).
"""

import asyncio
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from devices.commands import command_answer, command_fetch
from devices.credentials import DeviceIdentity
from iotplatform.errors import validation_text

from .errors import IngestError

MAX_WAIT_MS = 60_000
POLL_SECONDS = 1.0


async def rpc_next(identity: DeviceIdentity, *, wait_ms: int) -> dict[str, Any] | None:
    """The device's next command as ``{"id", "method", "params"}`` (now marked sent), or None
    when none came within ``wait_ms`` (capped at :data:`MAX_WAIT_MS`)."""
    deadline = time.monotonic() + min(max(wait_ms, 0), MAX_WAIT_MS) / 1000
    while True:
        command = await sync_to_async(command_fetch)(device_id=identity.device_id)
        if command is not None:
            return {"id": command.id, "method": command.kind, "params": command.payload}
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


async def rpc_answer(identity: DeviceIdentity, *, command_id: int, response: Any) -> dict[str, Any]:
    """Record the device's answer; IngestError 404 when the command is not its own or is over,
    400 naming the problem when the answer is malformed (the command stays open)."""
    try:
        answered = await sync_to_async(command_answer)(
            device_id=identity.device_id, command_id=command_id, response=response
        )
    except ValidationError as exc:
        raise IngestError(400, validation_text(exc)) from None
    if answered is None:
        raise IngestError(404, f"no open command {command_id} for this device")
    return {"id": answered.id, "status": answered.status}
