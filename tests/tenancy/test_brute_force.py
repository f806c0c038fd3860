"""Password guessing is throttled per account and per address (django-axes), on the login page
and on the API's Basic auth, with a clear answer, a cool-off, and a reset on success."""

from base64 import b64encode
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from iotplatform.authentication import cooloff_text
from iotplatform.tenancy.models import Role, Tenant

from .. import factories

LIMIT = settings.AXES_FAILURE_LIMIT


def login(username: str, password: str, ip: str = "10.0.0.1") -> Any:
    return Client(REMOTE_ADDR=ip).post(
        "/accounts/login/", {"username": username, "password": password}
    )


def api(username: str, password: str, ip: str = "10.0.0.1") -> Any:
    token = b64encode(f"{username}:{password}".encode()).decode()
    return Client(REMOTE_ADDR=ip).get("/api/v1/me", HTTP_AUTHORIZATION=f"Basic {token}")


@pytest.fixture
def viewer(tenant: Tenant) -> Any:
    return factories.make_user(tenant, Role.VIEWER, "vic")


@pytest.mark.django_db
def test_guessing_locks_the_account_even_for_the_right_password(viewer: Any) -> None:
    codes = [login("vic", "wrong-guess").status_code for _ in range(LIMIT)]
    assert codes == [200] * (LIMIT - 1) + [429]  # the form with an error, then the lockout
    refused = login("vic", factories.PASSWORD)
    assert refused.status_code == 429
    assert b"Signing in is paused" in refused.content
    # The account, from any address.
    assert login("vic", factories.PASSWORD, ip="10.9.9.9").status_code == 429


@pytest.mark.django_db
def test_guessing_from_one_address_locks_that_address(tenant: Tenant, viewer: Any) -> None:
    factories.make_user(tenant, Role.VIEWER, "other-person")
    for i in range(LIMIT):
        login(f"nobody-{i}", "wrong-guess", ip="10.6.6.6")
    assert login("other-person", factories.PASSWORD, ip="10.6.6.6").status_code == 429
    assert login("other-person", factories.PASSWORD, ip="10.7.7.7").status_code == 302  # signed in


@pytest.mark.django_db
def test_basic_auth_guessing_is_refused_with_a_clear_429(viewer: Any) -> None:
    codes = [api("vic", "wrong-guess").status_code for _ in range(LIMIT)]
    assert set(codes) <= {401, 403, 429}, codes
    refused = api("vic", factories.PASSWORD)
    assert refused.status_code == 429
    assert "failed sign-ins" in refused.json()["detail"]
    assert int(refused["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()


@pytest.mark.django_db
def test_a_success_resets_the_count_and_the_cool_off_ends_the_lockout(viewer: Any) -> None:
    for _ in range(LIMIT - 1):
        login("vic", "wrong-guess")
    assert login("vic", factories.PASSWORD).status_code == 302
    for _ in range(LIMIT - 1):
        login("vic", "wrong-guess")
    assert login("vic", factories.PASSWORD).status_code == 302  # not locked: the count restarted
    for _ in range(LIMIT):
        login("vic", "wrong-guess")
    assert login("vic", factories.PASSWORD).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert login("vic", factories.PASSWORD).status_code == 302


@pytest.mark.django_db
def test_lockouts_are_listed_for_platform_staff_only(page_as: Any, admin: Any, viewer: Any) -> None:
    from django.contrib.auth import get_user_model

    for _ in range(LIMIT):
        login("vic", "wrong-guess")
    root = get_user_model().objects.create_superuser("root", password="root-pass-123456")
    listing = page_as(root).get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and b"vic" in listing.content
    assert page_as(admin).get("/admin/axes/accessattempt/").status_code in (302, 403, 404)


@pytest.mark.django_db
def test_basic_auth_guessing_from_one_address_locks_that_address(
    tenant: Tenant, viewer: Any
) -> None:
    factories.make_user(tenant, Role.VIEWER, "other-person")
    for i in range(LIMIT):
        api(f"nobody-{i}", "wrong-guess", ip="10.6.6.6")
    refused = api("other-person", factories.PASSWORD, ip="10.6.6.6")
    assert refused.status_code == 429 and "failed sign-ins" in refused.json()["detail"]
    assert api("other-person", factories.PASSWORD, ip="10.7.7.7").status_code == 200


@pytest.mark.django_db
def test_the_admin_login_is_paused_too(viewer: Any) -> None:
    def admin_login(password: str) -> Any:
        return Client(REMOTE_ADDR="10.0.0.1").post(
            "/admin/login/", {"username": "vic", "password": password}
        )

    codes = [admin_login("wrong-guess").status_code for _ in range(LIMIT)]
    assert codes[-1] == 429, codes
    refused = admin_login(factories.PASSWORD)
    assert refused.status_code == 429 and b"Signing in is paused" in refused.content


@pytest.mark.django_db
@override_settings(AXES_COOLOFF_TIME=timedelta(hours=1))
def test_the_locked_out_person_is_told_how_long_in_words(viewer: Any) -> None:
    for _ in range(LIMIT):
        login("vic", "wrong-guess")
    page = login("vic", factories.PASSWORD)
    assert page.status_code == 429
    assert b"Try again in 1 hour" in page.content, page.content  # not axes' "PT1H"
    assert page["Retry-After"] == "3600"
    refused = api("vic", factories.PASSWORD)
    assert refused.json()["detail"].endswith("paused for 1 hour."), refused.json()
    assert refused["Retry-After"] == "3600"


@pytest.mark.parametrize(
    ("cooloff", "text"),
    [
        (timedelta(minutes=15), "15 minutes"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(seconds=90), "90 seconds"),
        (timedelta(seconds=1), "1 second"),
    ],
)
def test_cooloff_text(cooloff: timedelta, text: str) -> None:
    assert cooloff_text(cooloff) == text
