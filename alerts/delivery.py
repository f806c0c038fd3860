"""Sending a planned delivery, exactly once.

The row is the truth, the Celery task only a nudge: a task claims the row (``pending`` or
``retrying`` and due, or ``sending`` whose sender's lease ran out) by one conditional UPDATE, so
two tasks for one row send once. The sender then records ``committed`` just before the server
can act on the message (``alerts/channels``): a sender killed before that point left the row
``sending`` and it is sent again once its lease runs out; one killed after it left the row
``committed``, and the sweep records it ``unconfirmed`` instead of sending a second message.
Refusals are retried with exponential backoff up to ``ALERTS_DELIVERY_ATTEMPTS``; a permanent
refusal (bad address, bad credentials) fails at once. The reason stays on the row.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from .channels import DeliveryError, Unconfirmed, sender_for
from .messages import message_for
from .models import DeliveryStatus, NotificationDelivery

log = logging.getLogger(__name__)

LOST_AFTER = timedelta(seconds=15)  # a due row nobody claimed this long after: its nudge was lost


def _lease() -> timedelta:
    return timedelta(seconds=settings.ALERTS_DELIVERY_LEASE)


def backoff(attempts: int) -> timedelta:
    """The wait before attempt ``attempts + 1``: the base doubled each time, at most an hour."""
    return timedelta(seconds=min(settings.ALERTS_RETRY_BASE * 2 ** (attempts - 1), 3600))


def _claim(pk: int, now: datetime) -> bool:
    claimable = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], due_at__lte=now)
    claimable |= Q(status=DeliveryStatus.COLLECTING, due_at__lte=now)
    claimable |= Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    return bool(
        NotificationDelivery.objects.filter(claimable, pk=pk).update(
            status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, lease_until=now + _lease()
        )
    )


def delivery_send(pk: int) -> str:
    """Send the delivery if it is due and nobody else is sending it; its status after."""
    now = timezone.now()
    if not _claim(pk, now):
        return "not due"
    delivery = NotificationDelivery.objects.select_related("tenant").get(pk=pk)
    mine = NotificationDelivery.objects.filter(pk=pk, status=DeliveryStatus.SENDING)

    def commit() -> None:
        if not mine.filter(attempts=delivery.attempts).update(status=DeliveryStatus.COMMITTED):
            raise DeliveryError("Another sender took this delivery over (the lease ran out).")

    committed = NotificationDelivery.objects.filter(
        pk=pk, attempts=delivery.attempts, status=DeliveryStatus.COMMITTED
    )
    try:
        provider_id = sender_for(delivery.channel).send(delivery, message_for(delivery), commit)
    except Unconfirmed as exc:
        committed.update(status=DeliveryStatus.UNCONFIRMED, reason=str(exc)[:500])
        log.warning("delivery %s unconfirmed: %s", delivery.key, exc)
        return DeliveryStatus.UNCONFIRMED
    except DeliveryError as exc:
        return _refused(delivery, exc)
    except Exception as exc:  # a bug or an unforeseen failure: recorded and retried like one
        log.exception("delivery %s failed", delivery.key)
        return _refused(delivery, DeliveryError(f"{type(exc).__name__}: {exc}"))
    committed.update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), provider_id=provider_id[:200], reason=""
    )
    return DeliveryStatus.SENT


def _refused(delivery: NotificationDelivery, exc: DeliveryError) -> str:
    """Not accepted: retried later, or failed for good (permanent, or out of attempts)."""
    mine = NotificationDelivery.objects.filter(
        pk=delivery.pk,
        attempts=delivery.attempts,  # this attempt's: another sender may have taken over
        status__in=[DeliveryStatus.SENDING, DeliveryStatus.COMMITTED],
    )
    reason = str(exc)[:500]
    if exc.permanent or delivery.attempts >= settings.ALERTS_DELIVERY_ATTEMPTS:
        mine.update(status=DeliveryStatus.FAILED, reason=reason, lease_until=None)
        log.warning("delivery %s failed: %s", delivery.key, reason)
        return DeliveryStatus.FAILED
    due = timezone.now() + backoff(delivery.attempts)
    mine.update(status=DeliveryStatus.RETRYING, reason=reason, due_at=due, lease_until=None)
    from .tasks import deliver

    deliver.apply_async((delivery.pk,), eta=due)
    return DeliveryStatus.RETRYING


def deliveries_sweep(now: datetime | None = None) -> dict[str, int]:
    """Beat's pass over deliveries whose nudge was lost: due ones (digests whose minute is up,
    retries, rows whose task vanished with a broker restart) and ones whose sender died.
    A sender that died after the hand-over is recorded unconfirmed, never resent."""
    from .tasks import deliver

    now = now or timezone.now()
    unconfirmed = NotificationDelivery.objects.filter(
        status=DeliveryStatus.COMMITTED, lease_until__lt=now
    ).update(
        status=DeliveryStatus.UNCONFIRMED,
        reason="The sender stopped after handing the message over; not resent.",
    )
    due = Q(status=DeliveryStatus.COLLECTING, due_at__lte=now)
    due |= Q(
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], due_at__lte=now - LOST_AFTER
    )
    due |= Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    pks = list(NotificationDelivery.objects.filter(due).values_list("pk", flat=True)[:1000])
    for pk in pks:
        deliver.apply_async((pk,))
    return {"requeued": len(pks), "unconfirmed": unconfirmed}
