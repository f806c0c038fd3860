from django.urls import path

from .views import (
    DeviceCommandsView,
    DeviceDetailView,
    DeviceListView,
    DeviceMaintenanceView,
    DeviceStatusHistoryView,
    DeviceTokenView,
    DeviceTypeDetailView,
    DeviceTypeListView,
    ProvisionView,
    SimulationView,
)

urlpatterns = [
    path("devices", DeviceListView.as_view(), name="api-device-list"),
    path("devices/<int:pk>", DeviceDetailView.as_view(), name="api-device-detail"),
    path("devices/<int:pk>/token", DeviceTokenView.as_view(), name="api-device-token"),
    path(
        "devices/<int:pk>/maintenance",
        DeviceMaintenanceView.as_view(),
        name="api-device-maintenance",
    ),
    path(
        "devices/<int:pk>/status-changes",
        DeviceStatusHistoryView.as_view(),
        name="api-device-status-changes",
    ),
    path("devices/<int:pk>/commands", DeviceCommandsView.as_view(), name="api-device-commands"),
    path("simulator", SimulationView.as_view(), name="api-simulator"),
    path("provision", ProvisionView.as_view(), name="api-provision"),
    path("device-types", DeviceTypeListView.as_view(), name="api-device-type-list"),
    path("device-types/<int:pk>", DeviceTypeDetailView.as_view(), name="api-device-type-detail"),
]
