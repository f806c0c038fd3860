"""The request a tenant-scoped page view receives, typed: what the tenant middleware and
``tenant_page`` set on it, so views read ``request.tenant`` without ``type: ignore``."""

from typing import Any

from django.http import HttpRequest

from .models import Membership, Tenant


class MemberRequest(HttpRequest):
    """Any request after ``TenantMiddleware``: the person's membership in the tenant they chose
    (None when anonymous or in no tenant; resolved lazily)."""

    membership: Membership | None
    user: Any


class TenantRequest(MemberRequest):
    """A request ``tenant_page`` let through: a member, with at least the page's role."""

    membership: Membership  # narrowed: always set here
    tenant: Tenant
