"""Signed-in pages. Every view goes through ``tenant_page`` and reads only its tenant's rows."""

from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from devices import selectors as device_selectors
from devices.models import CommandKind, CommandStatus, DeviceStatus, SimulatedFleet
from devices.simulation import simulation_get
from frontend.selectors import dashboard_summary
from iotplatform.tenancy import selectors as tenancy_selectors
from iotplatform.tenancy.middleware import SESSION_TENANT_KEY
from iotplatform.tenancy.models import Role
from iotplatform.tenancy.requests import TenantRequest
from iotplatform.tenancy.scoping import get_for_tenant_or_404, tenant_page
from telemetry.api.serializers import ExportInput
from telemetry.export import export_response
from telemetry.selectors import latest_values, metric_averages, metrics_of

KEY_METRICS = ("temperature", "vibration", "pressure", "current")


def key_metrics(devices: list[Any], limit: int = 4) -> list[tuple[str, dict[str, Any]]]:
    """The fleet's key metrics for the dashboard: the standard ones first, then the most
    widely reported, with the definition of the type that declares it for the most devices."""
    seen: dict[str, int] = {}
    definition: dict[str, dict[str, Any]] = {}
    for device in devices:
        for metric, spec in device.type.metrics.items():
            seen[metric] = seen.get(metric, 0) + 1
            definition.setdefault(metric, spec)
    ranked = sorted(seen, key=lambda m: (m not in KEY_METRICS, -seen[m], m))
    return [(m, definition[m]) for m in ranked[:limit]]


@tenant_page()
def home(request: TenantRequest) -> HttpResponse:
    """The dashboard: fleet figures, live charts of the key metrics, status changes as they
    happen and the devices that need attention."""
    tenant = request.tenant
    devices = list(device_selectors.device_list(tenant=tenant))
    summary = dashboard_summary(tenant=tenant)
    active = {d.id for d in devices if d.status in (DeviceStatus.HEALTHY, DeviceStatus.ANOMALY)}
    latest = latest_values(tenant=tenant, device_ids=active)
    metrics = key_metrics(devices)
    changes = list(device_selectors.status_change_list(tenant=tenant).select_related("device")[:30])
    attention = device_selectors.attention_list(devices=devices)
    page_data = {
        "summary_url": reverse("api-fleet-summary"),
        "fleet_url": reverse("api-fleet-series"),
        "metrics": [{"key": m, **spec} for m, spec in metrics],
        "freshness": summary["freshness_seconds"],
        "latest": {
            m: {
                str(device_id): values[m]["value"]
                for device_id, values in latest.items()
                if m in values
            }
            for m, _ in metrics
        },
        "names": {str(d.id): d.name for d in devices},
    }
    return render(
        request,
        "frontend/home.html",
        {
            "summary": summary,
            "anomaly_pct": (
                None if summary["anomaly_rate_5m"] is None else summary["anomaly_rate_5m"] * 100
            ),
            "changes": changes,
            "attention": attention,
            "page_data": page_data,
            "has_devices": bool(devices),
        },
    )


@tenant_page()
def device_list(request: TenantRequest) -> HttpResponse:
    """The fleet's status table: sortable, filterable, live; operators act on rows."""
    tenant = request.tenant
    devices = list(device_selectors.device_list(tenant=tenant)[:2000])
    latest = latest_values(tenant=tenant, device_ids=[d.id for d in devices])
    averages = metric_averages(
        tenant=tenant, metric="temperature", since=timezone.now() - timedelta(hours=1)
    )
    last_anomaly = dict(
        device_selectors.status_change_list(tenant=tenant)
        .filter(to_status=DeviceStatus.ANOMALY)
        .order_by("device_id", "-at")
        .distinct("device_id")
        .values_list("device_id", "at")
    )
    # Why each device is in its status now: the reason of the change that brought it there.
    reasons = {
        device_id: (to_status, reason)
        for device_id, to_status, reason in device_selectors.status_change_list(tenant=tenant)
        .order_by("device_id", "-at")
        .distinct("device_id")
        .values_list("device_id", "to_status", "reason")
    }
    ruls = sorted(d.rul_hours for d in devices if d.rul_hours is not None)
    low_rul = ruls[max(0, len(ruls) // 10 - 1)] if ruls else None
    rows = [
        {
            "device": d,
            "temperature": latest.get(d.id, {}).get("temperature", {}).get("value"),
            "avg_temperature": averages.get(d.id),
            "last_anomaly": last_anomaly.get(d.id),
            "low_rul": low_rul is not None and d.rul_hours is not None and d.rul_hours <= low_rul,
            "reason": reasons[d.id][1] if reasons.get(d.id, ("",))[0] == d.status else "",
        }
        for d in devices
    ]
    types = sorted({d.type.name for d in devices})
    can_act = request.membership.allows(Role.OPERATOR)
    return render(
        request,
        "frontend/devices.html",
        {
            "rows": rows,
            "types": types,
            "statuses": DeviceStatus.choices,
            "can_act": can_act,
        },
    )


@tenant_page()
def export_page(request: TenantRequest) -> HttpResponse:
    """Pick devices, metrics and a range; the download streams from ``export_readings``."""
    tenant = request.tenant
    devices = list(device_selectors.device_list(tenant=tenant))
    metrics = metrics_of(tenant=tenant, devices=devices)
    now = timezone.now().replace(second=0, microsecond=0)
    return render(
        request,
        "frontend/export.html",
        {
            "devices": devices,
            "metrics": metrics,
            "start": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "end": now.strftime("%Y-%m-%dT%H:%M"),
        },
    )


@tenant_page()
def simulator_page(request: TenantRequest) -> HttpResponse:
    """The tenant's simulated fleet: status and, for operators, start / stop / restart."""
    tenant = request.tenant
    fleet = simulation_get(tenant=tenant)
    devices = list(device_selectors.device_list(tenant=tenant)[:2000])
    return render(
        request,
        "frontend/simulator.html",
        {
            "fleet": fleet,
            "can_act": request.membership.allows(Role.OPERATOR),
            "devices": devices,
            "metrics": sorted({m for d in devices for m in d.type.metrics}),
            "transports": SimulatedFleet._meta.get_field("transport").choices,
        },
    )


@tenant_page()
def device_detail(request: TenantRequest, pk: int) -> HttpResponse:
    device = get_for_tenant_or_404(
        device_selectors.device_list(tenant=request.tenant),
        tenant=request.tenant,
        pk=pk,
    )
    # Threshold lines and the explorer's default bounds: the device's own over its type's.
    metrics = device.metric_definitions()
    for key in metrics_of(tenant=request.tenant, devices=[device]):
        if not key.startswith("_"):  # the engine's scores (_health, …): the Prediction card's
            metrics.setdefault(key, {})
    page_data = {
        "device": device.id,
        "metrics": metrics,
        "metric_keys": sorted(metrics),
        "series_url": reverse("api-device-series", args=[device.id]),
        "statistics_url": reverse("api-device-statistics", args=[device.id]),
        "anomalies_url": reverse("api-device-anomalies", args=[device.id]),
        "labels": {**dict(CommandKind.choices), **dict(CommandStatus.choices)},
        "export_url": reverse("export-readings"),
        "alarms_url": reverse("api-alarm-list"),
        "prediction_url": reverse("api-device-prediction", args=[device.id]),
        "scores_url": reverse("api-device-scores", args=[device.id]),
        "spells_url": reverse("api-anomaly-list"),
        "forecast_url": reverse("api-device-forecast", args=[device.id]),
    }
    commands = device_selectors.command_list(tenant=request.tenant, device=device)[:10]
    return render(
        request,
        "frontend/device_detail.html",
        {
            "device": device,
            "page_data": page_data,
            "commands": commands,
            "ranges": [("1h", "Last hour"), ("1d", "Last day"), ("1w", "Last week")],
        },
    )


@tenant_page()
def export_readings(request: TenantRequest) -> HttpResponseBase:
    """CSV download of readings for the pages (same parameters as the API's export)."""
    # A form's multi-selects arrive as repeated keys; the API takes comma-separated lists.
    data = {key: ",".join(request.GET.getlist(key)) for key in request.GET}
    params = ExportInput(data=data)
    if not params.is_valid():
        return JsonResponse(params.errors, status=400)
    return export_response(tenant=request.tenant, params=params.validated_data)


@login_required
@require_POST
def tenant_switch(request: TenantRequest) -> HttpResponse:
    """Work in another of one's tenants; an unknown or foreign tenant changes nothing (404)."""
    slug = request.POST.get("tenant", "")
    membership = tenancy_selectors.membership_get(user=request.user, slug=slug)
    if membership is None:
        return render(request, "404.html", {"message": f"Tenant {slug!r} not found."}, status=404)
    request.session[SESSION_TENANT_KEY] = membership.tenant_id
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = "/"
    return redirect(target)
