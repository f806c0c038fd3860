"""The Analytics page (everyone in the tenant): per device type, the behaviour clusters in 3-D,
anomalies per cluster, device and hour or day, long-term trends per metric, and the CSV files of
anomaly spells and cluster labels. Everything on it is read from the API by the page."""

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from analytics import selectors as analytics_selectors
from analytics.models import ModelKind, ModelState
from devices import selectors as device_selectors
from iotplatform.tenancy.requests import TenantRequest
from iotplatform.tenancy.scoping import tenant_page

RANGES = [("1", "24 hours"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days")]


@tenant_page()
def analytics_page(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    active = {"kind": ModelKind.CLUSTER, "state": ModelState.ACTIVE}
    clustered = set(
        analytics_selectors.model_version_list(tenant=tenant, filters=active).values_list(
            "device_type__name", flat=True
        )
    )
    types = [
        {
            "name": t.name,
            "clusters": t.name in clustered,
            "metrics": [
                {"key": key, "label": spec.get("label") or key, "unit": spec.get("unit", "")}
                for key, spec in t.metrics.items()
            ],
        }
        for t in device_selectors.device_type_list(tenant=tenant)
    ]
    # the first type with clusters is shown first
    types.sort(key=lambda t: not t["clusters"])
    page_data = {
        "types": types,
        "tz": tenant.timezone,
        "urls": {
            "clusters": reverse("api-clusters"),
            "clusters_csv": reverse("api-cluster-export"),
            "stats": reverse("api-anomaly-stats"),
            "anomalies_csv": reverse("api-anomaly-export"),
            "fleet": reverse("api-fleet-series"),
        },
    }
    return render(
        request,
        "frontend/analytics.html",
        {"types": types, "ranges": RANGES, "page_data": page_data},
    )
