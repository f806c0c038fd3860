"""People's notification settings and the tenant's recipients per severity: checked here, for
the API, the pages and the admin alike."""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from iotplatform.tenancy.models import Membership, Tenant

from .models import NotificationProfile, SeverityRecipients
from .notify import profile_for

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
PROFILE_FIELDS = [
    "email",
    "sms",
    "phone",
    "webhook",
    "webhook_url",
    "webhook_secret",
    "webhook_format",
    "min_severity",
    "quiet_start",
    "quiet_end",
    "quiet_critical",
]


def profile_validate(profile: NotificationProfile) -> None:
    errors: dict[str, str] = {}
    if profile.phone and not E164.match(profile.phone):
        errors["phone"] = "A phone number in international form: + and 7 to 15 digits."
    if profile.sms and not profile.phone:
        errors["phone"] = "Text messages need a phone number."
    if profile.webhook and not profile.webhook_url:
        errors["webhook_url"] = "A webhook needs its URL."
    if profile.webhook_url and not profile.webhook_url.startswith(("https://", "http://")):
        errors["webhook_url"] = "A webhook URL starts with https:// or http://."
    if (profile.quiet_start is None) != (profile.quiet_end is None):
        errors["quiet_end" if profile.quiet_end is None else "quiet_start"] = (
            "Quiet hours need both a start and an end."
        )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def profile_update(*, tenant: Tenant, user: Any, **fields: Any) -> NotificationProfile:
    """The person's settings with ``fields`` changed (created from the defaults if new)."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    profile = profile_for(tenant=tenant, user=user)
    for name, value in fields.items():
        setattr(profile, name, value)
    profile_validate(profile)
    profile.save()
    return profile


def recipients_list(*, tenant: Tenant) -> list[SeverityRecipients]:
    return list(SeverityRecipients.objects.filter(tenant=tenant).prefetch_related("people"))


@transaction.atomic
def recipients_update(
    *, tenant: Tenant, severity: str, audience: str | None = None, people: list[int] | None = None
) -> SeverityRecipients:
    """Who hears of the tenant's alarms of ``severity``; the people must be its members."""
    routing, _ = SeverityRecipients.objects.select_for_update().get_or_create(
        tenant=tenant, severity=severity
    )
    if audience is not None:
        routing.audience = audience
        routing.save(update_fields=["audience"])
    if people is not None:
        members = set(
            Membership.objects.filter(tenant=tenant, user_id__in=people).values_list(
                "user_id", flat=True
            )
        )
        strangers = [p for p in people if p not in members]
        if strangers:
            raise ValidationError({"people": f"Not members of this tenant: {strangers}."})
        routing.people.set(sorted(members))
    return routing
