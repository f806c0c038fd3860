"""The analytics engine in the Django admin, scoped to the admin's tenants: model versions and
their history, training runs and anomaly spells are read-only records of what the engine did;
failures (the run-to-failure labels) may be recorded and corrected by people."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from iotplatform.tenancy.admin import TenantScopedAdmin

from .models import AnomalyEvent, Failure, ModelVersion, ModelVersionChange, TrainingRun


class ReadOnlyAdmin(TenantScopedAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ModelVersionChangeInline(admin.TabularInline):
    model = ModelVersionChange
    fields = ["at", "from_state", "to_state", "reason"]
    readonly_fields = ["at", "from_state", "to_state", "reason"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["id", "device_type", "kind", "state", "algorithm", "trained_at", "tenant"]
    list_filter = ["kind", "state", "tenant"]
    list_select_related = ["device_type", "tenant"]
    inlines = [ModelVersionChangeInline]
    date_hierarchy = "trained_at"


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "device_type", "status", "progress", "step", "created_at", "tenant"]
    list_filter = ["status", "tenant"]
    list_select_related = ["device_type", "tenant"]


@admin.register(AnomalyEvent)
class AnomalyEventAdmin(ReadOnlyAdmin):
    list_display = ["device", "started_at", "ended_at", "minutes", "peak_score", "tenant"]
    list_filter = ["detector", "tenant"]
    list_select_related = ["device", "tenant"]
    date_hierarchy = "started_at"


@admin.register(Failure)
class FailureAdmin(TenantScopedAdmin):
    list_display = ["device", "failed_at", "repaired_at", "mode", "tenant"]
    list_filter = ["mode", "tenant"]
    list_select_related = ["device", "tenant"]
    date_hierarchy = "failed_at"
