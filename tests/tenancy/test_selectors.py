"""session_user: what an open socket re-checks, read-only."""

from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from iotplatform.tenancy.models import Tenant
from iotplatform.tenancy.selectors import session_user

pytestmark = pytest.mark.django_db


def signed_in(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return str(client.cookies["sessionid"].value)


def test_a_live_session_gives_its_user(viewer: Any) -> None:
    assert session_user(session_key=signed_in(viewer)) == viewer


def test_no_user_for_a_gone_or_missing_session(viewer: Any) -> None:
    key = signed_in(viewer)
    Session.objects.filter(session_key=key).delete()
    assert session_user(session_key=key) is None
    assert session_user(session_key=None) is None
    assert session_user(session_key="no-such-session-key-000000000000") is None


def test_no_user_when_deactivated_and_the_session_is_left_alone(viewer: Any) -> None:
    key = signed_in(viewer)
    viewer.is_active = False
    viewer.save()
    assert session_user(session_key=key) is None
    viewer.is_active = True
    viewer.save()
    assert session_user(session_key=key) == viewer


def test_a_new_password_ends_older_sessions_without_flushing_them(
    viewer: Any, tenant: Tenant
) -> None:
    key = signed_in(viewer)
    viewer.set_password("another-horse-battery-7")
    viewer.save()
    assert session_user(session_key=key) is None
    # Read-only: unlike django.contrib.auth.get_user, the check deletes and re-keys nothing.
    assert Session.objects.filter(session_key=key).exists()
