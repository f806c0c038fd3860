"""Devices in the Django admin, scoped to the admin's tenants. A device's token (and a gateway
key) is shown once, in the confirmation message, when it is created or rotated."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from iotplatform.tenancy.admin import TenantScopedAdmin

from . import commands, services, status, tokens
from .models import (
    CommandKind,
    Device,
    DeviceCredential,
    DeviceStatus,
    DeviceStatusChange,
    DeviceType,
    IngestKey,
)


@admin.register(DeviceType)
class DeviceTypeAdmin(TenantScopedAdmin):
    list_display = [
        "name",
        "tenant",
        "expected_interval_seconds",
        "zscore_window",
        "zscore_threshold",
        "residual_threshold",
    ]
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


class DeviceAdminForm(forms.ModelForm):
    # The admin builds the form's Meta (model, the fields it shows) from this class.
    def clean_desired_config(self) -> dict[str, Any]:
        """Only what ``set_config`` accepts; keys cannot be removed (the device keeps them)."""
        value = self.cleaned_data.get("desired_config") or {}
        before = self.instance.desired_config if self.instance.pk else {}
        if value == before:
            return value
        if not isinstance(value, dict):
            raise forms.ValidationError("An object: interval_seconds and/or thresholds.")
        removed = sorted(set(before) - set(value))
        if removed:
            raise forms.ValidationError(
                f"{removed[0]!r} cannot be removed: send a new value instead."
            )
        try:
            commands.config_validate(value)
            if self.instance.pk:
                commands.thresholds_check(device=self.instance, payload=value)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None
        return value


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
    readonly_fields = [
        "last_seen",
        "health",
        "rul_hours",
        "cluster",
        "last_error",
        "last_error_at",
        "created_at",
    ]
    inlines = [CredentialInline]
    actions = [rotate_tokens, revoke_tokens]

    form = DeviceAdminForm

    def save_model(self, request: HttpRequest, obj: Device, form: Any, change: bool) -> None:
        """Status and desired configuration go through their services, not a plain save: a
        status change is recorded and published like any other, and a changed desired
        configuration is sent to the device as a ``set_config`` command."""
        target = obj.status
        desired = obj.desired_config
        old = Device.objects.get(pk=obj.pk) if change else None
        obj.status = old.status if old else DeviceStatus.OFFLINE
        obj.desired_config = old.desired_config if old else {}
        super().save_model(request, obj, form, change)
        if not change:
            new = tokens.token_generate()
            DeviceCredential.objects.create(
                device=obj, prefix=new.prefix, token_hash=new.token_hash
            )
            messages.warning(request, f"Token of {obj.name}, shown once: {new.token}")
        if target != obj.status:
            status.device_status_set(
                device=obj,
                transition=status.transition_to(target, f"set in the admin by {request.user}"),
            )
        sent = {k: v for k, v in desired.items() if obj.desired_config.get(k) != v}
        if sent:
            command = commands.command_issue(
                device=obj, kind=CommandKind.SET_CONFIG, payload=sent, by=request.user
            )
            messages.info(request, f"Configuration sent to {obj.name} (command {command.id}).")

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
