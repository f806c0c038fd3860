"""Who is told about an alarm step, on which channels — planned in the transaction that records
the step, as ``NotificationDelivery`` rows (an outbox: the step and its messages commit
together or not at all), then sent by Celery (``alerts/delivery.py``).

A step is told when an alarm opens, reopens or clears. Its severity picks the tenant's
recipients (``SeverityRecipients``); each person's profile then picks the channels, drops what
is less urgent than they asked for and holds back what falls in their quiet hours (recorded as
``suppressed``, critical alarms excepted if they say so). In a storm — more than
``ALERTS_STORM_LIMIT`` alarms opened in the tenant within a minute — the steps past the limit
are gathered into one digest per person and channel, sent a minute after the storm's first.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from iotplatform.tenancy.models import Membership, Role, Tenant

from .models import (
    RANK,
    AlarmAction,
    AlarmActivity,
    Audience,
    Channel,
    DeliveryStatus,
    NotificationDelivery,
    NotificationProfile,
    Severity,
    SeverityRecipients,
)

NOTIFIED = (AlarmAction.OPENED, AlarmAction.REOPENED, AlarmAction.CLEARED)
OPENINGS = (AlarmAction.OPENED, AlarmAction.REOPENED)
STORM_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Recipient:
    user: Any
    profile: NotificationProfile

    def addresses(self) -> dict[str, str]:
        """The person's channels they want and can be reached on, with the address."""
        p, out = self.profile, {}
        if p.email and self.user.email:
            out[Channel.EMAIL.value] = self.user.email
        if p.sms and p.phone:
            out[Channel.SMS.value] = p.phone
        if p.webhook and p.webhook_url:
            out[Channel.WEBHOOK.value] = p.webhook_url
        return out


def profile_for(*, tenant: Tenant | int, user: Any) -> NotificationProfile:
    """The person's profile in the tenant; the defaults (email from warning up, no quiet hours)
    when they never set one."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    found = NotificationProfile.objects.filter(tenant_id=tenant_id, user=user).first()
    return found or NotificationProfile(tenant_id=tenant_id, user=user)


def recipients_for(*, tenant_id: int, severity: str) -> list[Recipient]:
    """The tenant's active members told about alarms of ``severity``."""
    routing = SeverityRecipients.objects.filter(tenant_id=tenant_id, severity=severity).first()
    if routing is None:
        return []
    listed = Q(user__in=routing.people.all())
    if routing.audience == Audience.LISTED:
        chosen = listed
    else:
        roles = [r for r in Role.values if Role.allows(r, routing.audience)]
        chosen = listed | Q(role__in=roles)
    users = [
        m.user
        for m in Membership.objects.filter(chosen, tenant_id=tenant_id, user__is_active=True)
        .select_related("user")
        .order_by("user_id")
    ]
    profiles = {
        p.user_id: p
        for p in NotificationProfile.objects.filter(tenant_id=tenant_id, user__in=users)
    }
    return [
        Recipient(u, profiles.get(u.pk) or NotificationProfile(tenant_id=tenant_id, user=u))
        for u in users
    ]


def in_quiet_hours(profile: NotificationProfile, at: datetime, tz: str) -> bool:
    """Whether ``at`` falls in the profile's quiet hours, read on the tenant's clock; a span
    that ends before it starts runs over midnight (22:00 to 06:00)."""
    start, end = profile.quiet_start, profile.quiet_end
    if start is None or end is None or start == end:
        return False
    local: time = at.astimezone(ZoneInfo(tz)).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_reason(profile: NotificationProfile, tz: str) -> str:
    assert profile.quiet_start is not None and profile.quiet_end is not None
    return f"quiet hours {profile.quiet_start:%H:%M}-{profile.quiet_end:%H:%M} ({tz})"


def notify_plan(activity: AlarmActivity, *, severity: str, now: datetime | None = None) -> None:
    """The deliveries of an alarm step, written in the caller's transaction and handed to the
    workers once it commits. Planning twice writes nothing new (each row has its key)."""
    if activity.action not in NOTIFIED:
        return
    now = now or timezone.now()
    people = recipients_for(tenant_id=activity.tenant_id, severity=severity)
    if not people:
        return
    tz = Tenant.objects.values_list("timezone", flat=True).get(pk=activity.tenant_id)
    storm = _storming(activity.tenant_id, now)
    rows: list[NotificationDelivery] = []
    digests: list[tuple[Recipient, str, str]] = []
    for person in people:
        if RANK[severity] > RANK[person.profile.min_severity]:
            continue
        quiet = in_quiet_hours(person.profile, now, tz) and not (
            severity == Severity.CRITICAL and person.profile.quiet_critical
        )
        for channel, address in person.addresses().items():
            if storm and not quiet:
                digests.append((person, channel, address))
                continue
            rows.append(
                NotificationDelivery(
                    tenant_id=activity.tenant_id,
                    key=f"a{activity.pk}:{person.user.pk}:{channel}",
                    activity=activity,
                    user=person.user,
                    channel=channel,
                    address=address,
                    status=DeliveryStatus.SUPPRESSED if quiet else DeliveryStatus.PENDING,
                    reason=quiet_reason(person.profile, tz) if quiet else "",
                    due_at=now,
                )
            )
    NotificationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    keys = [r.key for r in rows if r.status == DeliveryStatus.PENDING]
    due = list(NotificationDelivery.objects.filter(key__in=keys).values_list("pk", flat=True))
    gathering = [_gather(activity, p, c, a, now) for p, c, a in digests]
    started = [pk for pk in gathering if pk is not None]
    transaction.on_commit(lambda: _enqueue(due, started))


def _storming(tenant_id: int, now: datetime) -> bool:
    """More alarms opened in the tenant within the last minute than the storm limit (this
    step's own opening counted)."""
    opened = AlarmActivity.objects.filter(
        tenant_id=tenant_id, action__in=OPENINGS, at__gt=now - STORM_WINDOW
    ).count()
    return bool(opened > settings.ALERTS_STORM_LIMIT)


GATHER = """
INSERT INTO alerts_notificationdelivery
    (tenant_id, key, activity_id, activity_ids, user_id, channel, address, status, reason,
     attempts, created_at, due_at, provider_id)
VALUES (%(tenant)s, %(key)s, NULL, %(ids)s::jsonb, %(user)s, %(channel)s, %(address)s,
        'collecting', '', 0, %(now)s, %(due)s, '')
ON CONFLICT (tenant_id, user_id, channel) WHERE status = 'collecting'
DO UPDATE SET activity_ids = alerts_notificationdelivery.activity_ids || EXCLUDED.activity_ids
RETURNING id, (xmax = 0)
"""


def _gather(
    activity: AlarmActivity, person: Recipient, channel: str, address: str, now: datetime
) -> int | None:
    """The step added to the person's gathering digest on the channel; a new digest's id (to
    send when it is due), None when the step joined one already gathering."""
    with connection.cursor() as cursor:
        cursor.execute(
            GATHER,
            {
                "tenant": activity.tenant_id,
                "key": f"d{activity.pk}:{person.user.pk}:{channel}",
                "ids": f"[{activity.pk}]",
                "user": person.user.pk,
                "channel": channel,
                "address": address,
                "now": now,
                "due": now + STORM_WINDOW,
            },
        )
        pk, inserted = cursor.fetchone()
    return int(pk) if inserted else None


def _enqueue(due: list[int], digests: list[int]) -> None:
    from .tasks import deliver

    for pk in due:
        deliver.apply_async((pk,))
    for pk in digests:
        deliver.apply_async((pk,), countdown=STORM_WINDOW.total_seconds())


def recipients_install_defaults(*, tenant: Tenant) -> None:
    """A new tenant tells its operators and admins about alarms from warning up, and nobody
    about info (idempotent)."""
    for severity in Severity.values:
        audience = Audience.LISTED if severity == Severity.INFO else Audience.OPERATORS
        SeverityRecipients.objects.get_or_create(
            tenant=tenant, severity=severity, defaults={"audience": audience}
        )
