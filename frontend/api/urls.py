from django.urls import path

from .views import DashboardSummaryView

urlpatterns = [
    # Under telemetry/ for the clients that know it there; the dashboard's figures.
    path("telemetry/summary", DashboardSummaryView.as_view(), name="api-fleet-summary"),
]
