from django.urls import path

from .views import (
    DeviceAnomaliesView,
    DeviceSeriesView,
    DeviceStatisticsView,
    ExportView,
    FleetSeriesView,
    LatestView,
)

urlpatterns = [
    path("devices/<int:pk>/series", DeviceSeriesView.as_view(), name="api-device-series"),
    path(
        "devices/<int:pk>/statistics", DeviceStatisticsView.as_view(), name="api-device-statistics"
    ),
    path("devices/<int:pk>/anomalies", DeviceAnomaliesView.as_view(), name="api-device-anomalies"),
    path("telemetry/fleet", FleetSeriesView.as_view(), name="api-fleet-series"),
    path("telemetry/latest", LatestView.as_view(), name="api-latest"),
    path("telemetry/export.csv", ExportView.as_view(), name="api-export"),
]
