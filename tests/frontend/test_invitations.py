"""Invitations: a tenant's admin invites by email with a role; the emailed link (sent once,
through the SMTP sink) lets the person choose a username and password, once, and joins them to
that tenant alone."""

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from frontend.accounts import account_email_send
from iotplatform.tenancy.models import Invitation, Membership, Role, Tenant

from .. import factories
from ..alerts.conftest import smtp
from ..alerts.notifying import inbox, text_of

pytestmark = pytest.mark.django_db
__all__ = ["smtp"]
LINK = re.compile(r"https?://[^/\s]+(/accounts/invitation/[^\s]+/)")
PASSWORD = "a-long-new-passphrase-2026"


def _admin(tenant: Tenant) -> Client:
    client = Client()
    client.force_login(factories.make_user(tenant, Role.ADMIN))
    return client


def _invite(client: Client, email: str, role: str, monkeypatch: Any, capture: Any) -> Any:
    monkeypatch.setattr(
        account_email_send, "delay", lambda *args: account_email_send.apply(args=args).get()
    )
    with capture(execute=True):
        return client.post("/accounts/invitations/", {"email": email, "role": role})


def test_an_invited_person_joins_the_tenant_with_the_role_once(
    tenant: Tenant, other_tenant: Tenant, smtp: Path, monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    admin = _admin(tenant)
    answer = _invite(admin, "nina@acme.example", Role.OPERATOR, monkeypatch,
                     django_capture_on_commit_callbacks)  # fmt: skip
    assert answer.status_code == 302
    page = admin.get("/accounts/invitations/").content.decode()
    assert "nina@acme.example" in page and "pending until" in page
    [message] = inbox(smtp)
    assert message["To"] == "nina@acme.example" and "Acme" in message["Subject"]
    path = LINK.search(text_of(message))[1]  # type: ignore[index]

    guest = Client()
    form = guest.get(path)
    assert form.status_code == 200 and "Join Acme" in form.content.decode()
    differ = guest.post(path, {"username": "nina", "password1": PASSWORD, "password2": "x"})
    assert differ.status_code == 400 and b"The two passwords differ" in differ.content
    joined = guest.post(path, {"username": "nina", "password1": PASSWORD, "password2": PASSWORD})
    assert joined.status_code == 302 and joined["Location"] == "/"
    assert guest.get("/").status_code == 200  # signed in
    [membership] = Membership.objects.filter(user__username="nina")
    assert (membership.tenant, membership.role) == (tenant, Role.OPERATOR)
    assert membership.user.email == "nina@acme.example"
    again = Client().get(path)
    assert again.status_code == 404 and b"no longer works" in again.content
    assert "accepted as nina" in admin.get("/accounts/invitations/").content.decode()
    # another tenant's admin sees none of it
    assert "nina" not in _admin(other_tenant).get("/accounts/invitations/").content.decode()


def test_only_a_tenants_admin_invites(tenant: Tenant) -> None:
    operator = Client()
    operator.force_login(factories.make_user(tenant, Role.OPERATOR))
    assert operator.get("/accounts/invitations/").status_code == 403
    assert operator.post("/accounts/invitations/", {"email": "a@b.example"}).status_code == 403
    anonymous = Client().get("/accounts/invitations/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    ("email", "role", "problem"),
    [
        ("not-an-address", Role.VIEWER, "is not an email address"),
        ("x@acme.example", "owner", "Unknown role"),
        ("taken@acme.example", Role.VIEWER, "already has taken@acme.example"),
    ],
)
def test_a_bad_invitation_is_refused_naming_the_problem(
    tenant: Tenant, email: str, role: str, problem: str
) -> None:
    member = factories.make_user(tenant)
    member.email = "taken@acme.example"
    member.save()
    answer = _admin(tenant).post("/accounts/invitations/", {"email": email, "role": role})
    assert answer.status_code == 400 and problem in answer.content.decode()
    assert not Invitation.objects.exists()


def test_an_expired_invitation_or_a_taken_username_makes_no_account(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    from iotplatform.tenancy.services import invitation_create

    factories.make_user(other_tenant, Role.VIEWER, "gil")
    _, token = invitation_create(tenant=tenant, email="a@acme.example", role=Role.VIEWER)
    taken = Client().post(
        f"/accounts/invitation/{token}/",
        {"username": "gil", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert taken.status_code == 400 and b"already exists" in taken.content
    assert not Membership.objects.filter(tenant=tenant, user__username="gil").exists()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    late = Client().post(
        f"/accounts/invitation/{token}/",
        {"username": "ann", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert late.status_code == 404 and b"no longer works" in late.content
    assert not Membership.objects.filter(user__username="ann").exists()
