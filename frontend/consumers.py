"""WebSocket consumers of the pages. Authentication and tenant checks live in TenantConsumer."""

from typing import Any

from iotplatform.tenancy.scoping import TenantConsumer


class LiveConsumer(TenantConsumer):
    """Relays the tenant's live events (device status changes, readings, alerts) to a page."""

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def live_event(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": message["event"], "data": message["data"]})
