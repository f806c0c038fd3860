"""One module per way of telling a person, behind one interface.

``send(delivery, message, commit)`` hands the message over and returns the provider's id for
it. Each sender prepares everything it can (connects, authenticates, sends all but the last
bytes), then calls ``commit()`` — the point of no return the delivery records — and only then
lets the server act on the message. A sender killed before that point is retried; one killed
after it is never resent (``alerts/delivery.py``), so a person never gets a message twice.
"""

from collections.abc import Callable
from typing import Protocol

from alerts.messages import Message
from alerts.models import Channel, NotificationDelivery

Commit = Callable[[], None]


class DeliveryError(Exception):
    """The message was not accepted. ``permanent``: trying again cannot help (a rejected
    address, bad credentials); otherwise it is retried with backoff."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Unconfirmed(Exception):
    """Handed over without an answer: the server may have the message, so it is never sent
    again (the delivery is recorded as unconfirmed)."""


class Sender(Protocol):
    def send(self, delivery: NotificationDelivery, message: Message, commit: Commit) -> str: ...


def sender_for(channel: str) -> Sender:
    from . import email, sms, webhook

    senders: dict[str, Callable[[], Sender]] = {
        Channel.EMAIL: email.EmailSender,
        Channel.SMS: sms.sms_sender,
        Channel.WEBHOOK: webhook.WebhookSender,
    }
    return senders[channel]()
