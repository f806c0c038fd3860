"""The alert pages: alarms (active and history, filtered, acted on, live) and alert rules
(admins edit, operators switch on and off). They read through the alerts app's selectors and act
through its API, so the pages and the API check the same things."""

from datetime import timedelta
from typing import Any

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from alerts import selectors
from alerts.models import ACTIVE, AlarmStatus, ConditionKind, Direction, Severity
from alerts.notify import profile_for
from devices import selectors as device_selectors
from iotplatform.tenancy.models import Role
from iotplatform.tenancy.requests import TenantRequest
from iotplatform.tenancy.scoping import tenant_page

SINCE = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
LIMIT = 300


def _tabs() -> list[tuple[str, str]]:
    """The alert pages' own navigation (frontend/_alerts_nav.html)."""
    alerts = reverse("alerts")
    return [
        (f"{alerts}?tab=active", "Active"),
        (f"{alerts}?tab=history", "History"),
        (reverse("alert-rules"), "Rules"),
        (reverse("notifications"), "Notifications"),
    ]


class AlarmFilters(forms.Form):
    tab = forms.ChoiceField(choices=[("active", "Active"), ("history", "History")], required=False)
    severity = forms.ChoiceField(choices=[("", "Any severity"), *Severity.choices], required=False)
    device = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    rule = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    since = forms.ChoiceField(
        choices=[
            ("", "Any time"),
            ("1h", "Last hour"),
            ("24h", "Last 24 hours"),
            ("7d", "Last 7 days"),
            ("30d", "Last 30 days"),
        ],
        required=False,
    )
    alarm = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False)


@tenant_page()
def alarms_page(request: TenantRequest) -> HttpResponse:
    """Active alarms (open, acknowledged) or the history (cleared, closed), newest first,
    filtered by severity, device, rule and time; operators acknowledge, clear, close and comment.
    New and changed alarms arrive live."""
    tenant = request.tenant
    form = AlarmFilters(request.GET)
    valid = form.is_valid()
    chosen: dict[str, Any] = form.cleaned_data if valid else {}
    tab = chosen.get("tab") or "active"
    statuses = (
        [str(s) for s in ACTIVE]
        if tab == "active"
        else [AlarmStatus.CLEARED.value, AlarmStatus.CLOSED.value]
    )
    filters: dict[str, Any] = {
        "status": statuses,
        "min_severity": chosen.get("severity") or None,
        "device": chosen.get("device"),
        "rule": chosen.get("rule"),
        "since": timezone.now() - SINCE[chosen["since"]] if chosen.get("since") else None,
    }
    rows = list(selectors.alarm_list(tenant=tenant, filters=filters)[: LIMIT + 1])
    devices = list(device_selectors.device_list(tenant=tenant).values("id", "name"))
    rule_rows = list(selectors.rule_list(tenant=tenant).values("id", "name"))
    page_data = {
        "alarms_url": reverse("api-alarm-list"),
        "tab": tab,
        "statuses": statuses,
        "filters": {k: chosen.get(k) for k in ("severity", "device", "rule", "since")},
        "severities": Severity.values,
        "can_act": request.membership.allows(Role.OPERATOR),
        "focus": chosen.get("alarm"),
    }
    return render(
        request,
        "frontend/alerts.html",
        {
            "form": form,
            "errors": form.errors if not valid else None,
            "tab": tab,
            "rows": rows[:LIMIT],
            "more": len(rows) > LIMIT,
            "devices": devices,
            "rules": rule_rows,
            "chosen": chosen,
            "page_data": page_data,
            "can_act": page_data["can_act"],
            "alert_tabs": _tabs(),
        },
        status=200 if valid else 400,
    )


@tenant_page()
def rules_page(request: TenantRequest) -> HttpResponse:
    """The tenant's alert rules: admins add, change and delete them, operators switch them on
    and off, viewers read."""
    tenant = request.tenant
    rules = list(selectors.rule_list(tenant=tenant))
    types = list(device_selectors.device_type_list(tenant=tenant))
    devices = list(device_selectors.device_list(tenant=tenant).values("id", "name"))
    page_data = {
        "rules_url": reverse("api-rule-list"),
        "is_admin": request.membership.allows(Role.ADMIN),
        "can_toggle": request.membership.allows(Role.OPERATOR),
        "metrics": {t.name: sorted(t.metrics) for t in types},
    }
    return render(
        request,
        "frontend/alert_rules.html",
        {
            "rules": rules,
            "types": types,
            "devices": devices,
            "kinds": ConditionKind.choices,
            "directions": Direction.choices,
            "severities": Severity.choices,
            "page_data": page_data,
            "is_admin": page_data["is_admin"],
            "can_toggle": page_data["can_toggle"],
            "alert_tabs": _tabs(),
        },
    )


@tenant_page()
def notifications_page(request: TenantRequest) -> HttpResponse:
    """Your notification settings in this tenant; for admins also who hears of each severity;
    and the delivery log (the tenant's for admins, your own otherwise)."""
    tenant = request.tenant
    is_admin = request.membership.allows(Role.ADMIN)
    from alerts import preferences
    from alerts.models import NotificationDelivery

    deliveries = NotificationDelivery.objects.filter(tenant=tenant).select_related(
        "activity__alarm__device", "activity__alarm__rule", "user"
    )
    if not is_admin:
        deliveries = deliveries.filter(user=request.user)
    members = list(tenant.memberships.select_related("user").order_by("user__username"))
    page_data = {
        "me_url": reverse("api-notify-me"),
        "recipients_url": reverse("api-recipients"),
        "is_admin": is_admin,
    }
    return render(
        request,
        "frontend/notifications.html",
        {
            "profile": profile_for(tenant=tenant, user=request.user),
            "recipients": preferences.recipients_list(tenant=tenant) if is_admin else [],
            "members": members,
            "deliveries": list(deliveries[:100]),
            "severities": Severity.choices,
            "is_admin": is_admin,
            "page_data": page_data,
            "alert_tabs": _tabs(),
        },
    )
