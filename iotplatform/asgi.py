"""One ASGI application: device ingestion, Django (HTTP) and Channels (WebSockets).

The device endpoints are served by a light ASGI app placed ahead of Django
(:mod:`telemetry.ingest.http`, which says why); everything else goes to Django or Channels.
"""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iotplatform.settings.local")
# Django must be set up before anything imports models (consumers, auth middleware).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from frontend.routing import websocket_urlpatterns  # noqa: E402
from telemetry.ingest.http import IngestHTTPApp  # noqa: E402

ingest = IngestHTTPApp()

channels_app = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan" or IngestHTTPApp.handles(scope):
        await ingest(scope, receive, send)
    else:
        await channels_app(scope, receive, send)
