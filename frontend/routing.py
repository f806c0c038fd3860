from django.urls import path

from .consumers import DeviceLiveConsumer, LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/live/device/<int:pk>/", DeviceLiveConsumer.as_asgi()),
]
