"""The API tokens page: a person makes named, expiring tokens for their scripts (each shown
once), sees when each was last used, and revokes them (``tenancy/tokens.py``)."""

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from iotplatform.errors import validation_text
from iotplatform.tenancy.models import PersonalToken
from iotplatform.tenancy.requests import TenantRequest
from iotplatform.tenancy.scoping import tenant_page
from iotplatform.tenancy.tokens import MAX_DAYS, personal_token_create, personal_token_revoke

DEFAULT_DAYS = 90


@tenant_page()
def tokens_page(request: TenantRequest) -> HttpResponse:
    created = ""
    error = ""
    name, days = "", str(DEFAULT_DAYS)
    if request.method == "POST":
        name, days = request.POST.get("name", ""), request.POST.get("days", "")
        try:
            if not days.strip().isdigit():
                raise ValidationError({"days": f"Days: a whole number of days, not {days!r}."})
            _, created = personal_token_create(user=request.user, name=name, days=int(days))
        except ValidationError as exc:
            error = validation_text(exc)
        else:
            name, days = "", str(DEFAULT_DAYS)
    tokens = PersonalToken.objects.filter(user=request.user)
    return render(
        request,
        "accounts/api_tokens.html",
        {"tokens": tokens, "created": created, "error": error, "name": name, "days": days,
         "max_days": MAX_DAYS, "now": timezone.now()},
        status=400 if error else (201 if created else 200),
    )  # fmt: skip


@tenant_page()
@require_POST
def token_revoke(request: TenantRequest, pk: int) -> HttpResponse:
    try:
        personal_token_revoke(user=request.user, pk=pk)
    except PersonalToken.DoesNotExist:
        raise Http404("No such token of yours.") from None
    return redirect("api-tokens")


urlpatterns = [
    path("accounts/tokens/", tokens_page, name="api-tokens"),
    path("accounts/tokens/<int:pk>/revoke", token_revoke, name="api-token-revoke"),
]
