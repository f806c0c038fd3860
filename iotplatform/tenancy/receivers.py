"""Open sockets re-check their access when it may have shrunk.

Signals rather than calls in the services, so every path is covered: the services, the Django
admin, cascades (a deleted user or tenant takes its memberships along) and ``logout``. Each sends
a revoke to the person's sockets after the change commits (``iotplatform.live.revoke_on_commit``);
the sockets decide (``TenantConsumer.recheck``). A queryset ``update()`` sends no signal: the
sockets' periodic re-check covers it within ``LIVE_ACCESS_RECHECK_SECONDS``.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from iotplatform.live import revoke_on_commit

from .models import Membership

# Saving these fields may end a session's access: a new password invalidates the other sessions.
ACCESS_FIELDS = frozenset({"is_active", "password"})


@receiver(user_logged_out)
def signed_out(sender: Any, *, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """Only this session's sockets close; the person's other browsers stay signed in."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        revoke_on_commit(user_id=user.pk, session_key=session_key)


@receiver(post_save, sender=Membership)
def membership_saved(sender: Any, *, instance: Membership, created: bool, **kwargs: Any) -> None:
    if not created:  # a role change; a new membership takes nothing away
        revoke_on_commit(user_id=instance.user_id)


@receiver(post_delete, sender=Membership)
def membership_deleted(sender: Any, *, instance: Membership, **kwargs: Any) -> None:
    revoke_on_commit(user_id=instance.user_id)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def user_saved(
    sender: Any, *, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    if created:
        return
    # A full save (the admin's user page) may have changed anything; a partial one only
    # matters when it touches the fields above (signing in saves only ``last_login``).
    if not instance.is_active or update_fields is None or ACCESS_FIELDS & set(update_fields):
        revoke_on_commit(user_id=instance.pk)
