"""Reads about tenants and memberships."""

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.db.models import QuerySet
from django.utils.crypto import constant_time_compare

from .models import AuditEvent, Invitation, Membership, Role, Tenant


def membership_list(*, user: Any) -> QuerySet[Membership]:
    """The memberships of a signed-in user, their tenants joined in; none for anonymous."""
    if user is None or not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


def membership_get(
    *, user: Any, tenant_id: int | None = None, slug: str | None = None
) -> Membership | None:
    """The user's membership in one tenant (by id or slug), or None when they have none."""
    qs = membership_list(user=user)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    elif slug is not None:
        qs = qs.filter(tenant__slug=slug)
    else:
        return None
    return qs.first()


def membership_default(*, user: Any) -> Membership | None:
    """The tenant a user lands in when they have not chosen one: the first by name."""
    return membership_list(user=user).first()


def tenant_members(*, tenant: Tenant) -> QuerySet[Membership]:
    """Everyone in a tenant, with their user."""
    return (
        Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username")
    )


def admin_tenant_ids(*, user: Any) -> set[int]:
    """Ids of the tenants in which the user is an admin (for the Django admin's scoping)."""
    return set(
        membership_list(user=user).filter(role=Role.ADMIN).values_list("tenant_id", flat=True)
    )


def session_user(*, session_key: str | None) -> Any | None:
    """The person a stored session is still signed in as, or None.

    None when the session is gone (signed out) or expired, its backend is no longer configured,
    the user is missing or may not sign in (inactive), or their password changed since (the
    session's hash no longer matches). Read-only, unlike ``django.contrib.auth.get_user``, which
    may flush or re-key the session it checks: a socket's check must not sign its browser out.
    """
    if not session_key:
        return None
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    backend_path = data.get(BACKEND_SESSION_KEY)
    if SESSION_KEY not in data or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(data[SESSION_KEY])
    session_hash = data.get(HASH_SESSION_KEY)
    if user is None or not session_hash:
        return None
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not any(constant_time_compare(session_hash, known) for known in hashes):
        return None
    return user


def invitation_list(*, tenant: Tenant, limit: int = 100) -> QuerySet[Invitation]:
    """A tenant's invitations, newest first, with who sent and who accepted them."""
    return Invitation.objects.filter(tenant=tenant).select_related("invited_by", "user")[:limit]


def audit_event_list(
    *, tenant: Tenant, object_type: str = "", before: int | None = None, limit: int = 100
) -> list[AuditEvent]:
    """A tenant's audit events, newest first: ``limit`` of them older than event ``before``
    (the next page), of one ``object_type`` ("sign-in" for sign-ins) or all."""
    events = AuditEvent.objects.filter(tenant=tenant)
    if object_type == "sign-in":
        events = events.filter(action__in=["login", "login_failed"])
    elif object_type:
        events = events.filter(object_type=object_type)
    if before is not None:
        events = events.filter(id__lt=before)
    return list(events.order_by("-id")[:limit])


def audit_object_types(*, tenant: Tenant) -> list[str]:
    return sorted(
        AuditEvent.objects.filter(tenant=tenant)
        .exclude(object_type="")
        .values_list("object_type", flat=True)
        .distinct()
    )
