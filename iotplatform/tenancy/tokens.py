"""Personal API tokens: what a script sends instead of a password (``Authorization: Bearer
<token>``), so it stops paying a password hash per call and can be cut off alone.

A token is ``iotp_`` and 43 random characters, shown once when made; the platform keeps its
SHA-256 (one indexed lookup per request, like device tokens) and its first 12 characters. Its
last use is recorded at most once a minute (no write per request).
"""

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .models import PersonalToken

PREFIX = "iotp_"
MAX_DAYS = 365
TOUCH_EVERY = timedelta(minutes=1)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def personal_token_create(*, user: Any, name: str, days: int) -> tuple[PersonalToken, str]:
    """A new token of ``user`` valid for ``days`` (1 to 365); the token itself, shown once."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the token (what script uses it)."})
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError({"days": f"A token lasts 1 to {MAX_DAYS} days, not {days}."})
    raw = PREFIX + secrets.token_urlsafe(32)
    token = PersonalToken(
        user=user, name=name, prefix=raw[:12], digest=_digest(raw),
        expires_at=timezone.now() + timedelta(days=days),
    )  # fmt: skip
    token.full_clean(exclude=["user"])
    token.save()
    return token, raw


def personal_token_revoke(*, user: Any, pk: int) -> PersonalToken:
    """Revoke one of ``user``'s own tokens (another's: DoesNotExist, a 404)."""
    token = PersonalToken.objects.get(pk=pk, user=user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def personal_token_authenticate(raw: str) -> PersonalToken | None:
    """The live token of this text (not revoked, not expired, its person active), its use
    recorded; None otherwise."""
    if not raw.startswith(PREFIX) or len(raw) > 100:
        return None
    now = timezone.now()
    token = (
        PersonalToken.objects.select_related("user")
        .filter(digest=_digest(raw), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        PersonalToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


class PersonalTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>``: the token's person. Another scheme is left to the
    next authentication class; a bearer token that is not live is a 401 saying so."""

    def authenticate(self, request: Any) -> tuple[Any, PersonalToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Bearer: one API token, without spaces.")
        token = personal_token_authenticate(parts[1].decode(errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown, expired or revoked API token.")
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI document describes it as the HTTP bearer scheme it is."""

    target_class = "iotplatform.tenancy.tokens.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (Account: API tokens), `iotp_…`.",
        }
