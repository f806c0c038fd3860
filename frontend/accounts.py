"""People's own accounts: changing one's password, and resetting a forgotten one by email.

Django's own views and tokens (a reset link works once, for ``PASSWORD_RESET_TIMEOUT``: a day),
the platform's pages and its mail path: the email is handed to a Celery task that sends it
through the SMTP server the alerts use, once — a retried task finds its mark and sends nothing
more. The reset page answers the same whether or not the address belongs to someone, so it does
not tell who has an account.
"""

import logging
import uuid
from typing import Any

from celery import shared_task
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template import loader
from django.urls import path, reverse_lazy

from alerts.channels import DeliveryError, Unconfirmed
from alerts.channels.email import email_send

logger = logging.getLogger(__name__)

SENT_MARK = "iot:account-mail:{}"  # set at the SMTP hand-over: a retry sends nothing more
RETRIES = 8
RESET_HOURS = settings.PASSWORD_RESET_TIMEOUT // 3600


@shared_task(bind=True, name="accounts.email", acks_late=True, max_retries=RETRIES)
def account_email_send(self: Any, key: str, to: str, subject: str, text: str, html: str) -> str:
    if cache.get(SENT_MARK.format(key)):
        return "already sent"
    email = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to],
        headers={"Auto-Submitted": "auto-generated"},
    )  # fmt: skip
    if html:
        email.attach_alternative(html, "text/html")

    def mark() -> None:
        cache.set(SENT_MARK.format(key), 1, timeout=7 * 86400)

    try:
        email_send(email, mark)
    except Unconfirmed:  # handed over, the server's last word lost: not sent again
        logger.warning("account email %s handed over unconfirmed", key)
    except DeliveryError as exc:
        if exc.permanent:
            logger.error("account email %s refused: %s", key, exc)
            return f"refused: {exc}"
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc
    return "sent"


def new_key() -> str:
    """The once-only key of an email to send."""
    return uuid.uuid4().hex


class ResetForm(PasswordResetForm):
    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        """Rendered here, sent by the worker once the request's transaction is done."""
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        text = loader.render_to_string(email_template_name, context)
        html = (
            loader.render_to_string(html_email_template_name, context)
            if html_email_template_name
            else ""
        )
        key = new_key()
        transaction.on_commit(lambda: account_email_send.delay(key, to_email, subject, text, html))


urlpatterns = [
    path(
        "accounts/password/change/",
        auth_views.PasswordChangeView.as_view(
            template_name="accounts/password_change.html",
            success_url=reverse_lazy("password-change-done"),
        ),
        name="password-change",
    ),
    path(
        "accounts/password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password-change-done",
    ),
    path(
        "accounts/password/reset/",
        auth_views.PasswordResetView.as_view(
            form_class=ResetForm,
            template_name="accounts/password_reset.html",
            email_template_name="accounts/password_reset_email.txt",
            subject_template_name="accounts/password_reset_subject.txt",
            success_url=reverse_lazy("password-reset-sent"),
            extra_email_context={"timeout_hours": RESET_HOURS},
        ),
        name="password-reset",
    ),
    path(
        "accounts/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(
            template_name="accounts/password_reset_sent.html",
            extra_context={"timeout_hours": RESET_HOURS},
        ),
        name="password-reset-sent",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html",
            success_url=reverse_lazy("password-reset-done"),
        ),
        name="password-reset-confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="accounts/password_reset_done.html"
        ),
        name="password-reset-done",
    ),
]
