"""Alert rules, alarms and notifications in the Django admin, scoped to the admin's tenants.
Rules and notification settings are checked as the API checks them; alarms and the delivery log
are read here (alarms are acted on in the app, where their steps are recorded and announced)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest

from iotplatform.tenancy.admin import TenantScopedAdmin
from iotplatform.tenancy.models import Membership

from . import preferences, reports, rules
from .models import (
    Alarm,
    AlarmActivity,
    AlertRule,
    NotificationDelivery,
    NotificationProfile,
    ReportSchedule,
    SeverityRecipients,
)


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


class ProfileForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        profile = self.instance
        for name, value in data.items():
            setattr(profile, name, value)
        tenant, user = data.get("tenant"), data.get("user")
        if tenant and user and not Membership.objects.filter(tenant=tenant, user=user).exists():
            self.add_error("user", "Not a member of this tenant.")
        try:
            preferences.profile_validate(profile)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return data


@admin.register(NotificationProfile)
class NotificationProfileAdmin(TenantScopedAdmin):
    form = ProfileForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["user", "tenant", "email", "sms", "webhook", "min_severity", "quiet_start"]
    list_filter = ["tenant", "min_severity"]
    list_select_related = ["user", "tenant"]
    search_fields = ["user__username", "user__email", "phone"]


class RecipientsForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        tenant = data.get("tenant") or getattr(self.instance, "tenant", None)
        people = data.get("people")
        if tenant is not None and people is not None:
            members = set(
                Membership.objects.filter(tenant=tenant).values_list("user_id", flat=True)
            )
            strangers = [p.get_username() for p in people if p.pk not in members]
            if strangers:
                self.add_error("people", f"Not members of this tenant: {', '.join(strangers)}.")
        return data


@admin.register(SeverityRecipients)
class SeverityRecipientsAdmin(TenantScopedAdmin):
    form = RecipientsForm
    list_display = ["severity", "tenant", "audience"]
    list_filter = ["tenant"]
    filter_horizontal = ["people"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one row per severity, made with the tenant

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(TenantScopedAdmin):
    list_display = ["created_at", "channel", "address", "status", "attempts", "reason", "tenant"]
    list_filter = ["status", "channel", "tenant"]
    list_select_related = ["tenant"]
    search_fields = ["address", "key", "reason"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReportScheduleForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        schedule = self.instance
        for name, value in data.items():
            if name not in ("devices", "people"):
                setattr(schedule, name, value)
        try:
            reports.schedule_validate(
                schedule,
                devices=list(data.get("devices") or []),
                people=list(data.get("people") or []),
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return data


@admin.register(ReportSchedule)
class ReportScheduleAdmin(TenantScopedAdmin):
    form = ReportScheduleForm
    list_display = ["name", "tenant", "frequency", "at", "scope", "enabled"]
    list_filter = ["enabled", "frequency", "tenant"]
    search_fields = ["name"]
    list_select_related = ["tenant"]
    filter_horizontal = ["devices", "people"]
