"""Email through SMTP with Django's mail (text and HTML), sent in two halves around the commit
point: the envelope and the message body first, the final ``.`` that makes the server take it
only after the delivery records the hand-over. Other email backends (console, file, locmem in
development and tests) are handed the message whole."""

import contextlib
import re
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend

from alerts.messages import Message
from alerts.models import NotificationDelivery

from . import Commit, DeliveryError, Unconfirmed

LEADING_DOT = re.compile(rb"(?m)^\.")


class EmailSender:
    def send(self, delivery: NotificationDelivery, message: Message, commit: Commit) -> str:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[delivery.address],
            headers={"X-IoT-Delivery": delivery.key, "Auto-Submitted": "auto-generated"},
        )
        email.attach_alternative(message.html, "text/html")
        return email_send(email, commit)


def email_send(email: EmailMultiAlternatives, commit: Commit) -> str:
    """Hand ``email`` to the SMTP server with ``commit`` called at the point of no return (the
    alarm deliveries and the reports alike); its Message-ID."""
    mime = email.message()
    message_id = str(mime["Message-ID"])
    backend = get_connection(fail_silently=False)
    if not isinstance(backend, SMTPBackend):
        commit()
        backend.send_messages([email])
        return message_id
    try:
        backend.open()
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP server unreachable: {exc}") from exc
    try:
        _transact(backend, email.from_email, email.recipients(), mime.as_bytes(), commit)
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):  # the server went away
            backend.close()
    return message_id


def _transact(
    backend: SMTPBackend, sender: str, to: list[str], body: bytes, commit: Commit
) -> None:
    smtp = backend.connection
    assert smtp is not None
    try:
        smtp.ehlo_or_helo_if_needed()
        code, reply = smtp.mail(sender)
        _check(code, reply, "MAIL FROM")
        for address in to:
            code, reply = smtp.rcpt(address)
            _check(code, reply, f"RCPT TO {address}")
        code, reply = smtp.docmd("DATA")
        _check(code, reply, "DATA", want=354)
        body = LEADING_DOT.sub(b"..", body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        smtp.send(body)
    except (OSError, smtplib.SMTPServerDisconnected) as exc:
        raise DeliveryError(f"SMTP connection lost before the hand-over: {exc}") from exc
    commit()
    try:
        smtp.send(b".\r\n")
        code, reply = smtp.getreply()
    except (TimeoutError, OSError, smtplib.SMTPServerDisconnected) as exc:
        raise Unconfirmed(f"SMTP server did not answer the hand-over: {exc}") from exc
    _check(code, reply, "end of data")


def _check(code: int, reply: bytes, step: str, want: int = 250) -> None:
    if code == want or (want == 250 and code == 251):
        return
    text = reply.decode(errors="replace")
    raise DeliveryError(f"SMTP {step} refused: {code} {text}", permanent=500 <= code < 600)
