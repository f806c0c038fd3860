from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "iotplatform.tenancy"
    label = "tenancy"
    verbose_name = "Tenants and people"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (closes sockets whose access is gone)
