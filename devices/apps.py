from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the tenant_created receiver)
