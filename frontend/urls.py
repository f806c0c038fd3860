from django.contrib.auth import views as auth_views
from django.urls import path

from . import (
    accounts,
    alert_views,
    analytics_views,
    api_tokens,
    audit_views,
    invitations,
    model_views,
    report_views,
    views,
)

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    *accounts.urlpatterns,
    *invitations.urlpatterns,
    *api_tokens.urlpatterns,
    path("tenant/switch", views.tenant_switch, name="tenant-switch"),
    path("devices/", views.device_list, name="device-list"),
    path("devices/<int:pk>/", views.device_detail, name="device-detail"),
    path("export/", views.export_page, name="export"),
    path("export/readings.csv", views.export_readings, name="export-readings"),
    path("simulator/", views.simulator_page, name="simulator"),
    path("alerts/", alert_views.alarms_page, name="alerts"),
    path("alerts/rules/", alert_views.rules_page, name="alert-rules"),
    path("alerts/notifications/", alert_views.notifications_page, name="notifications"),
    path("reports/", report_views.reports_page, name="reports"),
    path("models/", model_views.models_page, name="models"),
    path("analytics/", analytics_views.analytics_page, name="analytics"),
    path("audit/", audit_views.audit_page, name="audit"),
]
