"""The Audit page: a tenant's admins see who changed what in their tenant, and who signed in
or failed to (``tenancy/audit.py``), newest first, a hundred at a time."""

from django.http import HttpResponse
from django.shortcuts import render

from iotplatform.tenancy.models import Role
from iotplatform.tenancy.requests import TenantRequest
from iotplatform.tenancy.scoping import tenant_page
from iotplatform.tenancy.selectors import audit_event_list, audit_object_types

PAGE = 100


@tenant_page(role=Role.ADMIN)
def audit_page(request: TenantRequest) -> HttpResponse:
    kind = request.GET.get("type", "")[:50]
    before_text = request.GET.get("before", "")
    # an id, or nothing: a number past the column's range would be the database's error
    before = int(before_text) if before_text.isdigit() and len(before_text) <= 18 else None
    events = audit_event_list(tenant=request.tenant, object_type=kind, before=before, limit=PAGE)
    return render(
        request,
        "frontend/audit.html",
        {
            "events": events,
            "kind": kind,
            "kinds": audit_object_types(tenant=request.tenant),
            "older": events[-1].id if len(events) == PAGE else None,
        },
    )
