"""Writes about tenants and people."""

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils import timezone

from .models import Invitation, Membership, Role, Tenant
from .signals import tenant_created


@transaction.atomic
def tenant_create(*, slug: str, name: str, timezone: str = "UTC") -> Tenant:
    """Create a tenant, ready to use: the slug must be new, and the apps above give it its
    starting set through ``tenant_created`` (the standard device types, so ``device_create
    <tenant> pump`` works at once)."""
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A tenant with slug {slug!r} already exists."})
    tenant = Tenant(slug=slug, name=name, timezone=timezone)
    tenant.full_clean()
    tenant.save()
    tenant_created.send(sender=Tenant, tenant=tenant)
    return tenant


def password_generate() -> str:
    return secrets.token_urlsafe(12)


@transaction.atomic
def user_create(
    *,
    tenant: Tenant,
    username: str,
    role: str = Role.VIEWER,
    password: str | None = None,
    email: str = "",
    check_password: bool = True,
) -> tuple[Any, str]:
    """Create a person in a tenant with a role; returns the user and their password.

    A password is generated when none is given. An existing username is an error: adding an
    existing person to another tenant is :func:`membership_set`.
    """
    User = get_user_model()
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; one of {', '.join(Role.values)}."})
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": f"User {username!r} already exists."})
    password = password or password_generate()
    user = User(username=username, email=email)
    user.full_clean(exclude=["password"])
    if check_password:
        validate_password(password, user)
    user.set_password(password)
    # Tenant admins may use the Django admin, where they see only their own tenant's rows.
    user.is_staff = role == Role.ADMIN
    user.save()
    Membership.objects.create(user=user, tenant=tenant, role=role)
    return user, password


@transaction.atomic
def membership_set(*, tenant: Tenant, user: Any, role: str) -> Membership:
    """Give a user a role in a tenant (adding them to it when needed). Their open sockets check
    again whether the new role still allows them (``tenancy/receivers.py``)."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; one of {', '.join(Role.values)}."})
    membership, _ = Membership.objects.update_or_create(
        user=user, tenant=tenant, defaults={"role": role}
    )
    if role == Role.ADMIN and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return membership


@transaction.atomic
def membership_remove(*, tenant: Tenant, user: Any) -> bool:
    """Take a user out of a tenant; False when they were not in it.

    Their open sockets in that tenant close within seconds (``tenancy/receivers.py``), as they
    do when a role changes to one a socket does not allow, or the user is deactivated.
    """
    deleted, _ = Membership.objects.filter(tenant=tenant, user=user).delete()
    return deleted > 0


INVITATION_DAYS = 7


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_create(
    *, tenant: Tenant, email: str, role: str, invited_by: Any = None
) -> tuple[Invitation, str]:
    """Invite ``email`` to ``tenant`` with ``role``; the invitation and its token (for the
    link; only its digest is kept). Someone of the tenant with that address already is an
    error."""
    try:
        EmailValidator()(email)
    except ValidationError:
        raise ValidationError({"email": f"{email[:100]!r} is not an email address."}) from None
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; one of {', '.join(Role.values)}."})
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise ValidationError({"email": f"Someone of this tenant already has {email}."})
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        tenant=tenant,
        email=email,
        role=role,
        token_digest=_digest(token),
        invited_by=invited_by,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    return invitation, token


def _open(token: str) -> Any:
    return Invitation.objects.filter(
        token_digest=_digest(token), accepted_at__isnull=True, expires_at__gt=timezone.now()
    )


def invitation_find(token: str) -> Invitation | None:
    """The open invitation of this token: not accepted, not expired."""
    return _open(token).select_related("tenant").first()


@transaction.atomic
def invitation_accept(*, token: str, username: str, password: str) -> Any:
    """The invited person's account, made with the invitation's address and role; the link
    works once (two tabs at once: one wins, the other is told it was used)."""
    invitation = _open(token).select_for_update().first()
    if invitation is None:
        raise ValidationError({"token": "This invitation has been used already or has expired."})
    user, _ = user_create(
        tenant=invitation.tenant, username=username, role=invitation.role, password=password,
        email=invitation.email,
    )  # fmt: skip
    invitation.accepted_at = timezone.now()
    invitation.user = user
    invitation.save(update_fields=["accepted_at", "user"])
    return user
