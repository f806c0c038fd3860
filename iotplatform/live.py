"""Publishing live events to a tenant's browsers, only after the writing transaction commits.

Services call :func:`publish_on_commit`; consumers relay ``live.event`` messages to their sockets
(the frontend's ``LiveConsumer``). A message never goes to another tenant's group.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from iotplatform.tenancy.scoping import tenant_group

logger = logging.getLogger(__name__)


def publish(*, tenant_id: int, event: str, data: dict[str, Any], group: str | None = None) -> None:
    """Send one event to the tenant's group (or a sub-group of it, such as a device's)."""
    layer = get_channel_layer()
    if layer is None:
        return
    target = group or tenant_group(tenant_id)
    if not target.startswith(tenant_group(tenant_id)):
        raise ValueError(f"group {target!r} is not within tenant {tenant_id}")
    try:
        async_to_sync(layer.group_send)(
            target, {"type": "live.event", "event": event, "data": data}
        )
    except Exception:  # live updates are best effort: never fail the write that caused them
        logger.exception("live publish to %s failed", target)


def publish_on_commit(
    *, tenant_id: int, event: str, data: dict[str, Any], group: str | None = None
) -> None:
    transaction.on_commit(lambda: publish(tenant_id=tenant_id, event=event, data=data, group=group))
