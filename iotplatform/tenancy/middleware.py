"""Resolves the tenant a signed-in person is working in, once per request."""

from collections.abc import Callable
from typing import Any, cast

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from . import selectors
from .models import Membership
from .requests import MemberRequest

SESSION_TENANT_KEY = "tenant_id"


def membership_resolve(*, user: Any, session: Any, slug: str | None = None) -> Membership | None:
    """The membership a request works in.

    An explicit tenant slug (API clients send ``X-Tenant``) must be one of the user's tenants,
    otherwise there is none (fail closed). Without one: the tenant chosen in this session, or the
    user's first tenant.
    """
    if user is None or not user.is_authenticated:
        return None
    if slug:
        return selectors.membership_get(user=user, slug=slug)
    tenant_id = session.get(SESSION_TENANT_KEY) if session is not None else None
    if tenant_id is not None:
        membership = selectors.membership_get(user=user, tenant_id=tenant_id)
        if membership is not None:
            return membership
    return selectors.membership_default(user=user)


class TenantMiddleware:
    """Sets ``request.membership`` (lazily: no query for requests that never ask)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: MemberRequest) -> HttpResponse:
        request.membership = cast(
            "Membership | None",
            SimpleLazyObject(
                lambda: membership_resolve(user=request.user, session=request.session)
            ),
        )
        return self.get_response(request)
