"""Reads about tenants and memberships."""

from typing import Any

from django.db.models import QuerySet

from .models import Membership, Role, Tenant


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
