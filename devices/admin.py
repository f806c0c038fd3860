from django.contrib import admin

from iotplatform.tenancy.admin import TenantScopedAdmin

from .models import Device, DeviceType


@admin.register(DeviceType)
class DeviceTypeAdmin(TenantScopedAdmin):
    list_display = ["name", "tenant", "expected_interval_seconds"]
    list_filter = ["tenant"]
    search_fields = ["name"]
    list_select_related = ["tenant"]


@admin.register(Device)
class DeviceAdmin(TenantScopedAdmin):
    list_display = ["name", "serial", "type", "tenant", "status", "last_seen", "health"]
    list_filter = ["status", "tenant", "type__name"]
    search_fields = ["name", "serial", "location"]
    list_select_related = ["tenant", "type"]
    readonly_fields = ["last_seen", "health", "rul_hours", "cluster", "created_at"]
