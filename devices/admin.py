"""Devices in the Django admin, scoped to the admin's tenants. A device's token (and a gateway
key) is shown once, in the confirmation message, when it is created or rotated."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from iotplatform.tenancy.admin import TenantScopedAdmin

from . import services, tokens
from .models import Device, DeviceCredential, DeviceStatusChange, DeviceType, IngestKey


@admin.register(DeviceType)
class DeviceTypeAdmin(TenantScopedAdmin):
    list_display = ["name", "tenant", "expected_interval_seconds"]
    list_filter = ["tenant"]
    search_fields = ["name"]
    list_select_related = ["tenant"]

    def save_model(self, request: HttpRequest, obj: DeviceType, form: Any, change: bool) -> None:
        services.metrics_validate(obj.metrics)
        super().save_model(request, obj, form, change)


@admin.action(description="Rotate the token of the selected devices (shown once)")
def rotate_tokens(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Device]) -> None:
    for device in queryset:
        token = services.device_token_rotate(device=device)
        messages.warning(
            request, f"New token of {device.name} ({device.serial}), shown once: {token}"
        )


@admin.action(description="Revoke every token of the selected devices")
def revoke_tokens(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Device]) -> None:
    count = sum(services.device_token_revoke(device=device) for device in queryset)
    messages.success(request, f"Revoked {count} token(s).")


class CredentialInline(admin.TabularInline):
    model = DeviceCredential
    fields = ["prefix", "created_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "revoked_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Device)
class DeviceAdmin(TenantScopedAdmin):
    list_display = ["name", "serial", "type", "tenant", "status", "last_seen", "health"]
    list_filter = ["status", "tenant", "type__name"]
    search_fields = ["name", "serial", "location"]
    list_select_related = ["tenant", "type"]
    readonly_fields = ["last_seen", "health", "rul_hours", "cluster", "created_at"]
    inlines = [CredentialInline]
    actions = [rotate_tokens, revoke_tokens]

    def save_model(self, request: HttpRequest, obj: Device, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            new = tokens.token_generate()
            DeviceCredential.objects.create(
                device=obj, prefix=new.prefix, token_hash=new.token_hash
            )
            messages.warning(request, f"Token of {obj.name}, shown once: {new.token}")

    def delete_model(self, request: HttpRequest, obj: Device) -> None:
        services.device_delete(device=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        for device in queryset:
            services.device_delete(device=device)


@admin.register(IngestKey)
class IngestKeyAdmin(TenantScopedAdmin):
    list_display = ["name", "prefix", "tenant", "created_at", "revoked_at"]
    list_filter = ["tenant"]
    fields = ["tenant", "name", "prefix", "created_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at"]

    def save_model(self, request: HttpRequest, obj: IngestKey, form: Any, change: bool) -> None:
        if not change:
            new = tokens.token_generate()
            obj.prefix, obj.token_hash = new.prefix, new.token_hash
            super().save_model(request, obj, form, change)
            messages.warning(request, f"Ingestion key {obj.name}, shown once: {new.token}")
        else:
            super().save_model(request, obj, form, change)


@admin.register(DeviceStatusChange)
class DeviceStatusChangeAdmin(TenantScopedAdmin):
    list_display = ["at", "device", "from_status", "to_status", "reason", "tenant"]
    list_filter = ["to_status", "tenant"]
    list_select_related = ["device", "tenant"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
