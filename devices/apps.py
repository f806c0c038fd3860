from django.apps import AppConfig

BOOKKEEPING = (
    "last_seen", "status", "reported_config", "health", "rul_hours", "cluster",
    "forecast_crossing", "last_error", "last_error_at",
)  # fmt: skip


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices"

    def ready(self) -> None:
        from iotplatform.tenancy.audit import track

        from . import receivers  # noqa: F401  (connects the tenant_created receiver)
        from .models import Command, Device, DeviceType

        track(DeviceType)
        # the platform's own bookkeeping of a device is no one's change
        track(Device, exclude=BOOKKEEPING)
        track(Command, exclude=("status", "sent_at", "answered_at", "response", "expires_at"))
