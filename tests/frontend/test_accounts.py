"""People's own accounts: changing one's password, and a forgotten one reset by email through
the platform's mail path (the worker's task, the SMTP sink), once, by a link that works once and
only for its own account."""

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from frontend.accounts import account_email_send
from iotplatform.tenancy.models import Role, Tenant

from .. import factories
from ..alerts.conftest import smtp
from ..alerts.notifying import inbox, text_of

pytestmark = pytest.mark.django_db
__all__ = ["smtp"]
NEW = "a-new-long-passphrase-2026"
LINK = re.compile(r"https?://[^/\s]+(/accounts/reset/[^\s]+/)")


def _signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _can_sign_in(username: str, password: str) -> bool:
    client = Client()
    answer = client.post("/accounts/login/", {"username": username, "password": password})
    return answer.status_code == 302


def test_a_person_changes_their_password_and_stays_signed_in(tenant: Tenant) -> None:
    user = factories.make_user(tenant, Role.VIEWER, "vic")
    client = _signed_in(user)
    page = client.get("/accounts/password/change/")
    assert page.status_code == 200 and b"Change your password" in page.content
    wrong = client.post(
        "/accounts/password/change/",
        {"old_password": "not-it", "new_password1": NEW, "new_password2": NEW},
    )
    assert wrong.status_code == 200 and b"old password was entered incorrectly" in wrong.content
    short = client.post(
        "/accounts/password/change/",
        {"old_password": factories.PASSWORD, "new_password1": "abc", "new_password2": "abc"},
    )
    assert short.status_code == 200 and b"too short" in short.content
    done = client.post(
        "/accounts/password/change/",
        {"old_password": factories.PASSWORD, "new_password1": NEW, "new_password2": NEW},
    )
    assert done.status_code == 302 and done["Location"] == "/accounts/password/change/done/"
    assert client.get("/").status_code == 200  # still signed in
    assert _can_sign_in("vic", NEW) and not _can_sign_in("vic", factories.PASSWORD)


def test_changing_a_password_needs_a_signed_in_person() -> None:
    answer = Client().get("/accounts/password/change/")
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")


def _ask_reset(email: str, monkeypatch: pytest.MonkeyPatch, capture: Any) -> Any:
    sent: list[tuple[Any, ...]] = []

    def run_now(*args: Any) -> None:  # the worker's part, here
        sent.append(args)
        account_email_send.apply(args=args).get()

    monkeypatch.setattr(account_email_send, "delay", run_now)
    with capture(execute=True):
        answer = Client().post("/accounts/password/reset/", {"email": email})
    assert answer.status_code == 302 and answer["Location"] == "/accounts/password/reset/sent/"
    return sent


def test_a_forgotten_password_is_reset_by_a_link_that_works_once(
    tenant: Tenant, other_tenant: Tenant, smtp: Path, monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    user = factories.make_user(tenant, Role.OPERATOR, "olga")
    user.email = "olga@acme.example"
    user.save()
    theirs = factories.make_user(other_tenant, Role.ADMIN, "gil")
    theirs.email = "gil@globex.example"
    theirs.save()
    sent = _ask_reset("OLGA@acme.example", monkeypatch, django_capture_on_commit_callbacks)
    [message] = inbox(smtp)
    assert message["To"] == "olga@acme.example"
    assert "olga" in text_of(message) and "24 hours" in text_of(message)
    path = LINK.search(text_of(message))[1]  # type: ignore[index]
    # the worker's task run again (a retry) sends nothing more
    assert account_email_send.apply(args=sent[0]).get() == "already sent"
    assert len(inbox(smtp)) == 1
    # another tenant's person's id with this token is no link at all
    uid = path.split("/")[3]
    other_uid = path.replace(uid, _uid(theirs))
    client = Client()
    assert b"no longer works" in client.get(other_uid, follow=True).content
    form = client.get(path, follow=True)
    assert b"Set a new password" in form.content
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"
    assert _can_sign_in("olga", NEW)
    assert _can_sign_in("gil", factories.PASSWORD)  # untouched
    assert b"no longer works" in Client().get(path, follow=True).content  # used


def _uid(user: Any) -> str:
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    return urlsafe_base64_encode(force_bytes(user.pk))


def test_an_address_nobody_has_gets_the_same_answer_and_no_email(
    tenant: Tenant, smtp: Path, monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    assert get_user_model().objects.filter(email__iexact="nobody@acme.example").count() == 0
    sent = _ask_reset("nobody@acme.example", monkeypatch, django_capture_on_commit_callbacks)
    assert sent == [] and inbox(smtp) == []
