"""The Models page (operators and admins): per device type and kind, the trained versions with
their window, backtest and state, why a candidate was not activated, and "retrain now" with a
progress bar that follows the training run live."""

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from analytics import selectors as analytics_selectors
from analytics.models import ModelKind, ModelVersion, TrainingRun
from devices import selectors as device_selectors
from iotplatform.tenancy.models import Role
from iotplatform.tenancy.requests import TenantRequest
from iotplatform.tenancy.scoping import tenant_page

VERSIONS_SHOWN = 5  # per device type and kind, newest first


def _figures(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """A version's backtest figures, as label and formatted value."""
    shown = []
    for key, value in sorted(metrics.items()):
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        shown.append((key.replace("_", " "), f"{value:.3g}"))
    return shown


def _why(version: ModelVersion) -> str:
    """The reason of the version's latest state change (why it is active, kept or retired)."""
    changes = list(version.changes.all())
    return changes[-1].reason if changes else ""


@tenant_page(Role.OPERATOR)
def models_page(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    versions = analytics_selectors.model_version_list(tenant=tenant).prefetch_related("changes")
    by_type: dict[str, dict[str, list[ModelVersion]]] = {}
    for version in versions:
        kinds = by_type.setdefault(version.device_type.name, {})
        shown = kinds.setdefault(version.kind, [])
        if len(shown) < VERSIONS_SHOWN:
            shown.append(version)
    runs = list(analytics_selectors.training_run_list(tenant=tenant)[:20])
    waiting = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)
    pending = {r.device_type.name: r for r in runs if r.status in waiting}
    types = [
        {
            "name": device_type.name,
            "pending": pending.get(device_type.name),
            "kinds": [
                {
                    "kind": kind,
                    "label": label,
                    "versions": [
                        {"version": v, "figures": _figures(v.metrics), "why": _why(v)}
                        for v in by_type.get(device_type.name, {}).get(kind, [])
                    ],
                }
                for kind, label in ModelKind.choices
            ],
        }
        for device_type in device_selectors.device_type_list(tenant=tenant)
    ]
    return render(
        request,
        "frontend/models.html",
        {
            "types": types,
            "runs": runs,
            "page_data": {"training_url": reverse("api-training-list")},
        },
    )
