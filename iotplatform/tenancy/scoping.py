"""Tenant scoping in one place, failing closed: for DRF views, pages and WebSocket consumers.

Every tenant-owned row is reached through these helpers. Another tenant's object and a missing
one give the same 404, so nobody can probe for ids. Role checks: viewers read, operators act,
admins manage (:class:`~iotplatform.tenancy.models.Role`).
"""

import asyncio
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, ClassVar, TypeVar

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpResponseBase
from django.shortcuts import render
from rest_framework import exceptions, permissions
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request

from iotplatform.live import CloseCode, session_tag, tenant_group, user_group

from . import selectors
from .middleware import membership_resolve
from .models import Membership, Role, Tenant
from .requests import TenantRequest

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Model)

TENANT_HEADER = "HTTP_X_TENANT"


def get_for_tenant_or_404(queryset: QuerySet[M], *, tenant: Tenant | None, **lookup: Any) -> M:
    """One row of ``tenant``; the same 404 whether it is missing or belongs to someone else."""
    if tenant is None:
        raise Http404("Not found.")
    try:
        return queryset.filter(tenant=tenant).get(**lookup)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from None


# --- REST API -------------------------------------------------------------------------------


class TenantRolePermission(permissions.BasePermission):
    """Viewers read; unsafe methods need the view's ``write_role`` (operator by default)."""

    message = "Your role in this tenant does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        membership: Membership = view.membership
        required = view.read_role if request.method in permissions.SAFE_METHODS else view.write_role
        return membership.allows(required)


class TenantAPIView(GenericAPIView):
    """Base of every people-facing API view that touches tenant rows.

    The tenant is resolved after authentication and before permissions: the ``X-Tenant`` header
    (a slug) when sent, otherwise the session's chosen tenant or the user's first. Subclasses
    provide :meth:`tenant_queryset`; :meth:`get_queryset` always filters it by the tenant again,
    and a subclass may not override ``get_queryset`` (checked when the class is made).
    """

    permission_classes = [permissions.IsAuthenticated, TenantRolePermission]
    read_role: ClassVar[str] = Role.VIEWER
    write_role: ClassVar[str] = Role.OPERATOR
    membership: Membership
    tenant: Tenant

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__ or "queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__}: define tenant_queryset(), not get_queryset/queryset, "
                "so tenant scoping cannot be bypassed"
            )

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.perform_authentication(request)
        if request.user and request.user.is_authenticated:
            slug = request.META.get(TENANT_HEADER)
            membership = membership_resolve(
                user=request.user, session=getattr(request, "session", None), slug=slug
            )
            if membership is None:
                if slug:
                    raise exceptions.NotFound(f"Tenant {slug!r} not found.")
                raise exceptions.PermissionDenied("You are not a member of any tenant.")
            self.membership = membership
            self.tenant = membership.tenant
        super().initial(request, *args, **kwargs)

    def tenant_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define tenant_queryset()")

    def query(self, serializer: type[Any]) -> dict[str, Any]:
        """The query string as ``serializer`` checks it (a 400 naming the parameter otherwise)."""
        params = serializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return dict(params.validated_data)

    def get_queryset(self) -> QuerySet[Any]:
        return self.tenant_queryset().filter(tenant=self.tenant)

    def get_object(self) -> Any:
        lookup = {self.lookup_field: self.kwargs[self.lookup_url_kwarg or self.lookup_field]}
        try:
            obj = get_for_tenant_or_404(self.get_queryset(), tenant=self.tenant, **lookup)
        except Http404 as exc:
            raise exceptions.NotFound(str(exc)) from None
        self.check_object_permissions(self.request, obj)
        return obj


# --- Pages ----------------------------------------------------------------------------------

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponseBase])


def tenant_page(role: str = Role.VIEWER) -> Callable[[ViewFunc], ViewFunc]:
    """Decorate a page view: signed in, member of a tenant, with at least ``role`` there.

    The view finds ``request.membership`` and ``request.tenant`` set.
    """

    def decorator(view: ViewFunc) -> ViewFunc:
        @login_required
        @wraps(view)
        def wrapper(request: TenantRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            membership = request.membership
            if not membership:
                return render(request, "tenancy/no_tenant.html", status=403)
            if not membership.allows(role):
                raise PermissionDenied("Your role in this tenant does not allow this.")
            request.tenant = membership.tenant
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


# --- WebSocket consumers -----------------------------------------------------------------------


@database_sync_to_async
def _socket_membership(scope: dict[str, Any]) -> tuple[Membership | None, str | None]:
    from urllib.parse import parse_qs

    query = parse_qs(scope.get("query_string", b"").decode())
    slug = (query.get("tenant") or [None])[0]
    session = scope.get("session")
    membership = membership_resolve(user=scope.get("user"), session=session, slug=slug)
    return membership, getattr(session, "session_key", None)


@database_sync_to_async
def _socket_access(
    *, session_key: str | None, user_id: int, tenant_id: int, role: str
) -> CloseCode | None:
    """Why a socket may no longer stay open, or None when it may."""
    user = selectors.session_user(session_key=session_key)
    if user is None or user.pk != user_id:
        return CloseCode.SIGNED_OUT
    membership = selectors.membership_get(user=user, tenant_id=tenant_id)
    if membership is None or not membership.allows(role):
        return CloseCode.FORBIDDEN
    return None


class TenantConsumer(AsyncJsonWebsocketConsumer):
    """Base of every consumer: authenticates, checks membership, joins only its tenant's groups.

    An anonymous socket, or one asking for a tenant its user is not in (or in which their role is
    below the consumer's ``role``), is refused before the handshake completes (HTTP 403).
    Subclasses add groups with :meth:`extra_groups` (awaited after membership is known, so they
    can check object access) and must not override ``connect``.

    Access is not only checked at connect. The socket joins its person's ``user_group`` and, on a
    revoke message (sign-out, membership removed or changed, user deactivated: see
    ``tenancy/receivers.py``), checks again that its session still signs in its user and that the
    membership still allows ``role``; it also checks every ``LIVE_ACCESS_RECHECK_SECONDS``. When
    access is gone it stops delivering at once and closes with a :class:`CloseCode`. A sign-out
    closes only the sockets of the session signed out; the person's other browsers keep theirs.
    """

    role: ClassVar[str] = Role.VIEWER
    membership: Membership
    joined: list[str]
    session_key: str | None = None
    revoked = False
    checker: "asyncio.Task[None] | None" = None

    async def connect(self) -> None:
        membership, self.session_key = await _socket_membership(self.scope)
        if membership is None or not membership.allows(self.role):
            await self.close(code=CloseCode.FORBIDDEN)
            return
        self.membership = membership
        try:
            extra = await self.extra_groups()
        except (Http404, PermissionDenied):
            await self.close(code=CloseCode.NOT_FOUND)
            return
        self.joined = [tenant_group(membership.tenant_id), user_group(membership.user_id), *extra]
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.checker = asyncio.create_task(self._recheck_periodically())

    async def extra_groups(self) -> list[str]:
        return []

    async def live_revoke(self, message: dict[str, Any]) -> None:
        """A revoke message: another session's sign-out is not ours; ours closes at once."""
        tag = message.get("session")
        if tag is None:
            await self.recheck()
        elif self.session_key and tag == session_tag(self.session_key):
            await self.revoke(CloseCode.SIGNED_OUT)

    async def recheck(self) -> None:
        if self.revoked:
            return
        code = await _socket_access(
            session_key=self.session_key,
            user_id=self.membership.user_id,
            tenant_id=self.membership.tenant_id,
            role=self.role,
        )
        if code is not None:
            await self.revoke(code)

    async def _recheck_periodically(self) -> None:
        while not self.revoked:
            await asyncio.sleep(settings.LIVE_ACCESS_RECHECK_SECONDS)
            try:
                await self.recheck()
            except Exception:  # fail closed: a socket whose access cannot be checked goes
                logger.exception("socket access re-check failed")
                await self.revoke(1011)

    async def revoke(self, code: int) -> None:
        """Stop delivering now (leave the groups, drop what is pending) and close."""
        if self.revoked:
            return
        self.revoked = True
        await self.stop_delivery()
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = []
        await self.close(code=code)

    async def stop_delivery(self) -> None:
        """Subclasses drop what they hold for the page (pending frames)."""

    async def disconnect(self, code: int) -> None:
        if self.checker is not None and self.checker is not asyncio.current_task():
            self.checker.cancel()
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
