"""Webhooks: a JSON POST to the person's URL. The platform's own payload is signed:
``X-IoT-Signature: sha256=<hex HMAC-SHA256 of "<X-IoT-Timestamp>.<body>" with the person's
secret>``, and ``X-IoT-Delivery`` carries the delivery's key for the receiver to drop repeats.
The Slack and Teams formats post what their incoming webhooks take (a text; a MessageCard)."""

import hashlib
import hmac
import json
import time
from typing import Any

from django.conf import settings

from alerts.messages import Message
from alerts.models import NotificationDelivery, NotificationProfile, WebhookFormat

from . import Commit
from .http import post, refused

COLOURS = {"critical": "B91C1C", "major": "EA580C", "minor": "CA8A04", "warning": "2563EB"}


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def payload(fmt: str, message: Message) -> dict[str, Any]:
    if fmt == WebhookFormat.SLACK:
        return {"text": "\n".join([message.subject, *(s.line() for s in message.steps)])}
    if fmt == WebhookFormat.TEAMS:
        worst = message.steps[0].severity if message.steps else "info"
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": message.subject,
            "themeColor": COLOURS.get(worst, "6B7280"),
            "title": message.subject,
            "text": "<br>".join(f"[{s.line()}]({s.link})" for s in message.steps),
        }
    return message.payload


class WebhookSender:
    def send(self, delivery: NotificationDelivery, message: Message, commit: Commit) -> str:
        profile = NotificationProfile.objects.filter(
            tenant_id=delivery.tenant_id, user=delivery.user
        ).first()
        fmt = profile.webhook_format if profile else WebhookFormat.JSON
        secret = profile.webhook_secret if profile else ""
        body = json.dumps(payload(fmt, message), separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "IoT-Platform-Webhook/1",
            "X-IoT-Delivery": delivery.key,
            "X-IoT-Timestamp": timestamp,
        }
        if secret:
            headers["X-IoT-Signature"] = signature(secret, timestamp, body)
        reply = post(delivery.address, body, headers, commit, timeout=settings.ALERTS_SEND_TIMEOUT)
        if not 200 <= reply.status < 300:
            raise refused(reply, "The webhook")
        return delivery.key
