"""Alert rules and alarms in the Django admin, scoped to the admin's tenants. Rules are checked
as the API checks them; alarms are read here and acted on in the app (their steps are recorded
and announced there)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from iotplatform.tenancy.admin import TenantScopedAdmin

from . import rules
from .models import Alarm, AlarmActivity, AlertRule


class AlertRuleForm(forms.ModelForm):
    # The admin builds the form's Meta (model, the fields it shows) from this class.
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        rule = self.instance
        for name, value in data.items():
            setattr(rule, name, value)
        try:
            rules.rule_validate(rule)
        except ValidationError as exc:
            fields = set(self.fields)
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in fields else None, messages)
        return data


@admin.register(AlertRule)
class AlertRuleAdmin(TenantScopedAdmin):
    form = AlertRuleForm
    list_display = ["name", "tenant", "device_type", "device", "kind", "severity", "enabled"]
    list_filter = ["enabled", "severity", "kind", "tenant"]
    search_fields = ["name", "metric"]
    list_select_related = ["tenant", "device_type", "device"]
    list_editable = ["enabled"]


class ActivityInline(admin.TabularInline):
    model = AlarmActivity
    fields = ["at", "action", "actor", "text", "value"]
    readonly_fields = ["at", "action", "actor", "text", "value"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Alarm)
class AlarmAdmin(TenantScopedAdmin):
    list_display = ["opened_at", "device", "rule", "severity", "status", "occurrences", "tenant"]
    list_filter = ["status", "severity", "tenant"]
    list_select_related = ["device", "rule", "tenant"]
    search_fields = ["device__name", "rule__name"]
    date_hierarchy = "opened_at"
    inlines = [ActivityInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
