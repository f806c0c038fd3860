"""Personal API tokens: made on the account page (shown once), sent as a bearer token, acting
as their person in that person's tenants only, last use recorded, refused once revoked or
expired, and documented in the OpenAPI document."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from iotplatform.tenancy.models import PersonalToken, Role, Tenant
from iotplatform.tenancy.tokens import personal_token_create

from .. import factories

pytestmark = pytest.mark.django_db


def _page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_token_made_on_the_page_acts_as_its_person_until_revoked(tenant: Tenant) -> None:
    user = factories.make_user(tenant, Role.OPERATOR, "otto")
    page = _page(user)
    made = page.post("/accounts/tokens/", {"name": "nightly export", "days": "30"})
    assert made.status_code == 201
    raw = re.search(r'id="token-value">(iotp_[\w-]+)<', made.content.decode())[1]  # type: ignore[index]
    token = PersonalToken.objects.get(user=user)
    assert token.digest != raw and raw not in str(token.__dict__)  # only its digest is kept
    assert raw not in page.get("/accounts/tokens/").content.decode()  # shown once
    assert 29 <= (token.expires_at - timezone.now()).days <= 30

    me = _bearer(raw).get("/api/v1/me")
    assert me.status_code == 200 and me.json()["username"] == "otto"
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert _bearer(raw).get("/api/v1/devices").status_code == 200

    assert page.post(f"/accounts/tokens/{token.pk}/revoke").status_code == 302
    refused = _bearer(raw).get("/api/v1/me")
    assert refused.status_code == 403
    assert "Unknown, expired or revoked API token" in refused.json()["detail"]


def test_a_token_reaches_only_its_persons_tenants(tenant: Tenant, other_tenant: Tenant) -> None:
    factories.make_device(other_tenant, name="Globex Press", serial="G-001")
    user = factories.make_user(tenant, Role.ADMIN)
    _, raw = personal_token_create(user=user, name="script", days=1)
    theirs = _bearer(raw).get("/api/v1/devices", HTTP_X_TENANT=other_tenant.slug)
    assert theirs.status_code in (403, 404)
    listed = _bearer(raw).get("/api/v1/devices").json()
    assert all(d["serial"] != "G-001" for d in listed["results"])


def test_someone_elses_token_cannot_be_revoked_from_my_page(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs, raw = personal_token_create(user=factories.make_user(other_tenant), name="x", days=1)
    mine = _page(factories.make_user(tenant))
    assert mine.post(f"/accounts/tokens/{theirs.pk}/revoke").status_code == 404
    assert "x" not in [t.name for t in PersonalToken.objects.filter(revoked_at__isnull=False)]
    assert _bearer(raw).get("/api/v1/me").status_code == 200


@pytest.mark.parametrize(
    ("name", "days", "problem"),
    [("", "30", "Name the token"), ("s", "0", "1 to 365 days"), ("s", "soon", "whole number")],
)
def test_a_bad_token_request_is_refused_naming_it(
    tenant: Tenant, name: str, days: str, problem: str
) -> None:
    answer = _page(factories.make_user(tenant)).post(
        "/accounts/tokens/", {"name": name, "days": days}
    )
    assert answer.status_code == 400 and problem in answer.content.decode()
    assert not PersonalToken.objects.exists()


def test_an_expired_or_malformed_token_is_refused(tenant: Tenant) -> None:
    token, raw = personal_token_create(user=factories.make_user(tenant), name="old", days=1)
    PersonalToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(1))
    assert _bearer(raw).get("/api/v1/me").status_code == 403
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer two parts")
    assert "one API token" in client.get("/api/v1/me").json()["detail"]


def test_the_openapi_document_describes_the_bearer_scheme(tenant: Tenant) -> None:
    schema = _page(factories.make_user(tenant)).get("/api/schema/?format=json").json()
    scheme = schema["components"]["securitySchemes"]["personalToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
