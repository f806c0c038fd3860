"""The audit log: who changed what, per tenant (``AuditEvent``).

The apps say what they track in their ``ready()`` (``track(Device, exclude=...)``): an object
made, changed or deleted becomes an event of its tenant with the person behind the request (the
API's Basic and bearer sign-ins included: DRF hands its user to the request), their address, and
for a change the tracked fields that changed, before and after. A save that changes only
untracked fields (a device's status, last seen, health: the platform's own bookkeeping) writes
nothing. Sign-ins and failed sign-ins are events of each tenant of the person.

An own model rather than django-auditlog or django-pghistory: events must carry their tenant
(scoped pages, per-tenant retention) and sign-ins sit beside object changes in one list.
"""

import contextvars
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .models import AuditEvent, Membership, Tenant

_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "audit_request", default=None
)
# Tenants being deleted here: what goes with them is not recorded (their log goes too).
_ending: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "audit_ending", default=frozenset()
)
SKIPPED = ("id", "created_at", "updated_at")  # never anyone's change


class AuditMiddleware:
    """Makes the request (and through it, once signed in, its person) known to the log."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def _address(request: HttpRequest | None) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def record(
    *, tenant_id: int, action: str, obj: Any = None, changes: dict[str, Any] | None = None,
    user: Any = None, name: str | None = None,
) -> AuditEvent:  # fmt: skip
    """One event; the actor is ``user``, else the request's signed-in person, else "system"
    (``name``: the name to show instead, as a failed sign-in's)."""
    request = _request.get()
    if user is None and name is None and request is not None:
        candidate = getattr(request, "user", None)
        user = candidate if candidate is not None and candidate.is_authenticated else None
    return AuditEvent.objects.create(
        tenant_id=tenant_id,
        actor=user if user is not None and user.pk else None,
        actor_name=(name or (user.get_username() if user is not None else "system"))[:150],
        address=_address(request),
        action=action,
        object_type=obj._meta.verbose_name[:50] if obj is not None else "",
        object_id=str(obj.pk)[:50] if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        changes=changes or {},
    )


def track(model: type[models.Model], *, exclude: tuple[str, ...] = ()) -> None:
    """Record ``model``'s objects made, changed (its fields but ``exclude``) and deleted, as
    events of their ``tenant_id``."""
    fields = [f.attname for f in model._meta.concrete_fields if f.name not in (*SKIPPED, *exclude)]
    uid = f"audit-{model._meta.label}"

    def values(instance: Any) -> dict[str, Any]:
        return {name: getattr(instance, name) for name in fields}

    def before(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
        if raw or instance.pk is None:
            return
        rows = model._default_manager.filter(pk=instance.pk).values(*fields)
        instance._audit_before = rows.first()

    def after(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
        if raw:
            return
        now = values(instance)
        old = None if created else getattr(instance, "_audit_before", None)
        if old is None:
            changes = {k: [None, v] for k, v in now.items() if v not in (None, "", [], {})}
            action = "created"
        else:
            changes = {k: [old[k], v] for k, v in now.items() if old.get(k) != v}
            action = "changed"
            if not changes:
                return
        record(tenant_id=instance.tenant_id, action=action, obj=instance, changes=changes)

    def gone(sender: Any, instance: Any, **kwargs: Any) -> None:
        if instance.tenant_id not in _ending.get():  # not part of the tenant's own deletion
            record(tenant_id=instance.tenant_id, action="deleted", obj=instance)

    pre_save.connect(before, sender=model, weak=False, dispatch_uid=uid)
    post_save.connect(after, sender=model, weak=False, dispatch_uid=uid)
    post_delete.connect(gone, sender=model, weak=False, dispatch_uid=uid)


@receiver(pre_delete, sender=Tenant, dispatch_uid="audit-tenant-ending")
def _tenant_ending(sender: Any, instance: Tenant, **kwargs: Any) -> None:
    """Sent before any row of the tenant's cascade is deleted."""
    _ending.set(_ending.get() | {instance.pk})


@receiver(user_logged_in, dispatch_uid="audit-login")
def _signed_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    for tenant_id in Membership.objects.filter(user=user).values_list("tenant_id", flat=True):
        record(tenant_id=tenant_id, action="login", user=user)


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def _sign_in_failed(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
    """A failed sign-in of an existing account: an event of each of its tenants (an unknown
    name belongs to no tenant; axes keeps those)."""
    username = str(credentials.get("username") or "")[:150]
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return
    for tenant_id in Membership.objects.filter(user=user).values_list("tenant_id", flat=True):
        record(tenant_id=tenant_id, action="login_failed", name=username)


def audit_retention_apply(*, now: datetime | None = None) -> int:
    """Delete each tenant's events older than its retention (within the platform's bound)."""
    now = now or timezone.now()
    deleted = 0
    for tenant_id, days in Tenant.objects.values_list("id", "retention_days"):
        cutoff = now - timedelta(days=min(days, settings.RETENTION_MAX_DAYS))
        deleted += AuditEvent.objects.filter(tenant_id=tenant_id, at__lt=cutoff).delete()[0]
    return deleted
