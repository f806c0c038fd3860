"""What every signed-in page's scripts need from the server."""

from typing import Any

from django.http import HttpRequest

from iotplatform.live import page_config


def live(request: HttpRequest) -> dict[str, Any]:
    """The live vocabulary (event names, limits), rendered as JSON for ``live.js``."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"live_config": page_config()}
