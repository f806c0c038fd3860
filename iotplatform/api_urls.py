"""The people-facing REST API, version 1: each app contributes its routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("iotplatform.tenancy.api.urls")),
    path("", include("devices.api.urls")),
    path("", include("telemetry.api.urls")),
    path("", include("analytics.api.urls")),
    path("", include("alerts.api.urls")),
    path("", include("frontend.api.urls")),
]
