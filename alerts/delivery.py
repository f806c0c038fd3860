"""Sending something exactly once: an alarm's message (``NotificationDelivery``) or a report's
email (``ReportRun``), both rows with ``status``, ``attempts``, ``due_at``, ``lease_until``,
``reason`` and ``sent_at``.

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
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Model, Q
from django.utils import timezone

from .channels import Commit, DeliveryError, Unconfirmed, sender_for
from .messages import message_for
from .models import DeliveryStatus, NotificationDelivery

log = logging.getLogger(__name__)

LOST_AFTER = timedelta(seconds=15)  # a due row nobody claimed this long after: its nudge was lost
# Sends the row (its commit point called at the hand-over); the fields to store when sent.
Send = Callable[[Any, Commit], dict[str, Any]]


def backoff(attempts: int) -> timedelta:
    """The wait before attempt ``attempts + 1``: the base doubled each time, at most an hour."""
    return timedelta(seconds=min(settings.ALERTS_RETRY_BASE * 2 ** (attempts - 1), 3600))


def send_once(model: type[Model], pk: int, send: Send, task: Any) -> str:
    """Send row ``pk`` of ``model`` if it is due and nobody else is sending it; its status
    after. A refusal to retry is handed to ``task`` (a Celery task taking the pk) for later."""
    now = timezone.now()
    rows = model._default_manager
    claimable = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], due_at__lte=now)
    claimable |= Q(status=DeliveryStatus.COLLECTING, due_at__lte=now)  # a digest's minute is up
    claimable |= Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    lease = now + timedelta(seconds=settings.ALERTS_DELIVERY_LEASE)
    if not rows.filter(claimable, pk=pk).update(
        status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, lease_until=lease
    ):
        return "not due"
    row: Any = rows.select_related("tenant").get(pk=pk)
    mine = rows.filter(pk=pk, attempts=row.attempts)  # this attempt's: not a later sender's

    def commit() -> None:
        if not mine.filter(status=DeliveryStatus.SENDING).update(status=DeliveryStatus.COMMITTED):
            raise DeliveryError("Another sender took this over (the lease ran out).")

    committed = mine.filter(status=DeliveryStatus.COMMITTED)
    try:
        fields = send(row, commit)
    except Unconfirmed as exc:
        committed.update(status=DeliveryStatus.UNCONFIRMED, reason=str(exc)[:500])
        log.warning("%s %s unconfirmed: %s", model.__name__, pk, exc)
        return DeliveryStatus.UNCONFIRMED
    except DeliveryError as exc:
        return _refused(mine, row.attempts, exc, task, pk)
    except Exception as exc:  # a bug or an unforeseen failure: recorded and retried like one
        log.exception("%s %s failed", model.__name__, pk)
        return _refused(mine, row.attempts, DeliveryError(f"{type(exc).__name__}: {exc}"), task, pk)
    committed.update(status=DeliveryStatus.SENT, sent_at=timezone.now(), reason="", **fields)
    return DeliveryStatus.SENT


def _refused(mine: Any, attempts: int, exc: DeliveryError, task: Any, pk: int) -> str:
    """Not accepted: retried later, or failed for good (permanent, or out of attempts)."""
    mine = mine.filter(status__in=[DeliveryStatus.SENDING, DeliveryStatus.COMMITTED])
    reason = str(exc)[:500]
    if exc.permanent or attempts >= settings.ALERTS_DELIVERY_ATTEMPTS:
        mine.update(status=DeliveryStatus.FAILED, reason=reason, lease_until=None)
        log.warning("%s failed: %s", pk, reason)
        return DeliveryStatus.FAILED
    due = timezone.now() + backoff(attempts)
    mine.update(status=DeliveryStatus.RETRYING, reason=reason, due_at=due, lease_until=None)
    task.apply_async((pk,), eta=due)
    return DeliveryStatus.RETRYING


def sweep(model: type[Model], task: Any, now: datetime | None = None) -> dict[str, int]:
    """Beat's pass over rows whose nudge was lost: due ones (digests whose minute is up,
    retries, rows whose task vanished with a broker restart) and ones whose sender died.
    A sender that died after the hand-over is recorded unconfirmed, never resent."""
    now = now or timezone.now()
    rows = model._default_manager
    unconfirmed = rows.filter(status=DeliveryStatus.COMMITTED, lease_until__lt=now).update(
        status=DeliveryStatus.UNCONFIRMED,
        reason="The sender stopped after handing it over; not resent.",
    )
    due = Q(status=DeliveryStatus.COLLECTING, due_at__lte=now)
    waiting = [DeliveryStatus.PENDING, DeliveryStatus.RETRYING]
    due |= Q(status__in=waiting, due_at__lte=now - LOST_AFTER)
    due |= Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    pks = list(rows.filter(due).values_list("pk", flat=True)[:1000])
    for pk in pks:
        task.apply_async((pk,))
    return {"requeued": len(pks), "unconfirmed": unconfirmed}


def _send_delivery(delivery: NotificationDelivery, commit: Commit) -> dict[str, Any]:
    provider_id = sender_for(delivery.channel).send(delivery, message_for(delivery), commit)
    return {"provider_id": provider_id[:200]}


def delivery_send(pk: int) -> str:
    """Send the alarm message if it is due and nobody else is sending it; its status after."""
    from .tasks import deliver

    return send_once(NotificationDelivery, pk, _send_delivery, deliver)


def deliveries_sweep(now: datetime | None = None) -> dict[str, int]:
    from .tasks import deliver

    return sweep(NotificationDelivery, deliver, now)
