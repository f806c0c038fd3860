from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "iotplatform.tenancy"
    label = "tenancy"
    verbose_name = "Tenants and people"

    def ready(self) -> None:
        from django.contrib import admin

        from . import receivers  # noqa: F401  (closes sockets whose access is gone)
        from .audit import track
        from .models import Invitation, Membership

        track(Membership)
        track(Invitation, exclude=("token_digest",))
        from .admin import platform_only_admins

        platform_only_admins(admin.site)
