"""The Reports page: the tenant's report schedules (admins add, change and delete them with a
preview of what they would send; operators send one now) and every report produced, with its
files to download again. It reads the alerts app's models through its tenant and acts through
the reports API."""

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from alerts.models import DeviceScope, Frequency, ReportRun, ReportSchedule, ReportSection
from devices import selectors as device_selectors
from iotplatform.tenancy.models import Role
from iotplatform.tenancy.requests import TenantRequest
from iotplatform.tenancy.scoping import tenant_page

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def when(schedule: ReportSchedule) -> str:
    at = f"{schedule.at:%H:%M}"
    if schedule.frequency == Frequency.WEEKLY and schedule.weekday is not None:
        return f"Weekly on {WEEKDAYS[schedule.weekday]} at {at}"
    if schedule.frequency == Frequency.MONTHLY:
        return f"Monthly on day {schedule.day_of_month} at {at}"
    return f"Daily at {at}"


@tenant_page()
def reports_page(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    schedules = list(
        ReportSchedule.objects.filter(tenant=tenant)
        .select_related("device_type")
        .prefetch_related("people", "devices")
    )
    runs = list(ReportRun.objects.filter(tenant=tenant).select_related("requested_by")[:100])
    members = list(tenant.memberships.select_related("user").order_by("user__username"))
    page_data = {
        "schedules_url": reverse("api-report-schedules"),
        "preview_url": reverse("api-report-preview"),
        "runs_url": reverse("api-report-runs"),
        "is_admin": request.membership.allows(Role.ADMIN),
        "can_send": request.membership.allows(Role.OPERATOR),
    }
    return render(
        request,
        "frontend/reports.html",
        {
            "rows": [{"schedule": s, "when": when(s)} for s in schedules],
            "runs": runs,
            "types": list(device_selectors.device_type_list(tenant=tenant).values("name")),
            "devices": list(device_selectors.device_list(tenant=tenant).values("id", "name")),
            "members": members,
            "frequencies": Frequency.choices,
            "scopes": DeviceScope.choices,
            "sections": ReportSection.choices,
            "weekdays": list(enumerate(WEEKDAYS)),
            "tz": tenant.timezone,
            "page_data": page_data,
            "is_admin": page_data["is_admin"],
            "can_send": page_data["can_send"],
        },
    )
