from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts and reports"

    def ready(self) -> None:
        from iotplatform.tenancy.audit import track

        from . import receivers  # noqa: F401  (connects the tenant_created receiver)
        from .models import AlertRule, ReportSchedule

        track(AlertRule)
        track(ReportSchedule)
