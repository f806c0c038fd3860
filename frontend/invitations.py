"""Invitations: a tenant's admin invites someone by email with a role; the emailed link lets
them choose a username and password, once, within a week (``tenancy.services``), and signs
them in. The email goes through the same once-only task as password resets."""

from typing import Any

from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import path, reverse
from django.utils import timezone

from iotplatform.errors import validation_text
from iotplatform.tenancy.models import Role
from iotplatform.tenancy.requests import TenantRequest
from iotplatform.tenancy.scoping import tenant_page
from iotplatform.tenancy.selectors import invitation_list
from iotplatform.tenancy.services import (
    INVITATION_DAYS,
    invitation_accept,
    invitation_create,
    invitation_find,
)

from .accounts import account_email_send, new_key

BACKEND = "django.contrib.auth.backends.ModelBackend"


@tenant_page(role=Role.ADMIN)
def invitations_page(request: TenantRequest) -> HttpResponse:
    form: dict[str, Any] = {"email": "", "role": Role.VIEWER}
    error = ""
    if request.method == "POST":
        form = {"email": request.POST.get("email", "").strip(), "role": request.POST.get("role")}
        try:
            with transaction.atomic():
                invitation, token = invitation_create(
                    tenant=request.tenant, email=form["email"], role=str(form["role"]),
                    invited_by=request.user,
                )  # fmt: skip
                link = request.build_absolute_uri(reverse("invitation-accept", args=[token]))
                context = {"invitation": invitation, "link": link, "days": INVITATION_DAYS,
                           "inviter": request.user}  # fmt: skip
                subject = f"You are invited to {request.tenant.name} on IoT Platform"
                text = loader.render_to_string("accounts/invitation_email.txt", context)
                key, to = new_key(), invitation.email
                transaction.on_commit(lambda: account_email_send.delay(key, to, subject, text, ""))
        except ValidationError as exc:
            error = validation_text(exc)
        else:  # the list below shows it, pending
            return redirect("invitations")
    return render(
        request,
        "accounts/invitations.html",
        {"form": form, "error": error, "roles": Role.choices,
         "invitations": invitation_list(tenant=request.tenant), "days": INVITATION_DAYS,
         "now": timezone.now()},
        status=400 if error else 200,
    )  # fmt: skip


def invitation_accept_page(request: HttpRequest, token: str) -> HttpResponse:
    invitation = invitation_find(token)
    error = ""
    username = ""
    if invitation is not None and request.method == "POST":
        username = request.POST.get("username", "").strip()
        password = request.POST.get("password1", "")
        if password != request.POST.get("password2", ""):
            error = "The two passwords differ."
        else:
            try:
                user = invitation_accept(token=token, username=username, password=password)
            except ValidationError as exc:
                error = validation_text(exc)
            else:
                login(request, user, backend=BACKEND)
                return redirect("home")
    return render(
        request,
        "accounts/invitation_accept.html",
        {"invitation": invitation, "error": error, "username": username},
        status=400 if error else (200 if invitation else 404),
    )


urlpatterns = [
    path("accounts/invitations/", invitations_page, name="invitations"),
    path("accounts/invitation/<str:token>/", invitation_accept_page, name="invitation-accept"),
]
