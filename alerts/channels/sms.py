"""Text messages: Twilio's Messages resource (``POST {SMS_URL}/2010-04-01/Accounts/{sid}/
Messages.json``, HTTP basic auth with the account SID and auth token, form-encoded ``To``,
``From`` or ``MessagingServiceSid``, ``Body``; a 201 with the message's ``sid``), or the console
for development (``SMS_BACKEND=console``: the message goes to the worker's log)."""

import base64
import logging
from urllib.parse import quote, urlencode

from django.conf import settings

from alerts.messages import Message
from alerts.models import NotificationDelivery

from . import Commit, DeliveryError, Sender
from .http import post, refused

log = logging.getLogger(__name__)


def sms_sender() -> Sender:
    backend = settings.SMS_BACKEND
    if backend == "twilio":
        return TwilioSender()
    if backend == "console":
        return ConsoleSender()
    raise DeliveryError(f"Unknown SMS_BACKEND {backend!r}: twilio or console.", permanent=True)


class TwilioSender:
    def send(self, delivery: NotificationDelivery, message: Message, commit: Commit) -> str:
        sid, token, sender = settings.SMS_ACCOUNT_SID, settings.SMS_AUTH_TOKEN, settings.SMS_FROM
        if not (sid and token and sender):
            raise DeliveryError(
                "SMS is not configured: SMS_ACCOUNT_SID, SMS_AUTH_TOKEN and SMS_FROM.",
                permanent=True,
            )
        origin = "MessagingServiceSid" if sender.startswith("MG") else "From"
        body = urlencode({"To": delivery.address, origin: sender, "Body": message.short})
        auth = base64.b64encode(f"{sid}:{token}".encode()).decode()
        url = f"{settings.SMS_URL.rstrip('/')}/2010-04-01/Accounts/{quote(sid)}/Messages.json"
        reply = post(
            url,
            body.encode(),
            {
                "Authorization": f"Basic {auth}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            commit,
            timeout=settings.ALERTS_SEND_TIMEOUT,
        )
        if reply.status != 201:
            raise refused(reply, "The SMS gateway")
        data = reply.json()
        return str(data.get("sid", "")) if isinstance(data, dict) else ""


class ConsoleSender:
    def send(self, delivery: NotificationDelivery, message: Message, commit: Commit) -> str:
        commit()
        log.warning("SMS to %s: %s", delivery.address, message.short)
        return f"console-{delivery.pk}"
