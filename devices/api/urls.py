from django.urls import path

from .views import DeviceDetailView, DeviceListView, DeviceMaintenanceView

urlpatterns = [
    path("devices", DeviceListView.as_view(), name="api-device-list"),
    path("devices/<int:pk>", DeviceDetailView.as_view(), name="api-device-detail"),
    path(
        "devices/<int:pk>/maintenance",
        DeviceMaintenanceView.as_view(),
        name="api-device-maintenance",
    ),
]
