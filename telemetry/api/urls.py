from django.urls import path

from .views import DeviceSeriesView, ExportView, FleetSeriesView, LatestView

urlpatterns = [
    path("devices/<int:pk>/series", DeviceSeriesView.as_view(), name="api-device-series"),
    path("telemetry/fleet", FleetSeriesView.as_view(), name="api-fleet-series"),
    path("telemetry/latest", LatestView.as_view(), name="api-latest"),
    path("telemetry/export.csv", ExportView.as_view(), name="api-export"),
]
