"""Signing in, guarded against guessing by django-axes: what a locked-out person is told (the
login page and the admin: a page; the API's Basic auth: a 429 saying why, where DRF would answer
a bare 403, as for a wrong password), with the cool-off in words and as Retry-After."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication


def cooloff_text(cooloff: timedelta | None = None) -> str:
    """The cool-off as a person reads it: "15 minutes", "1 hour", "90 seconds"."""
    seconds = int((settings.AXES_COOLOFF_TIME if cooloff is None else cooloff).total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """The login page's and the admin's answer to a locked account or address
    (``AXES_LOCKOUT_CALLABLE``; axes' own template context gives the cool-off as "PT15M")."""
    response = render(
        request,
        "registration/locked_out.html",
        {"cooloff": cooloff_text()},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


class SignInPaused(exceptions.APIException):
    status_code = 429
    default_code = "sign_in_paused"

    def __init__(self) -> None:
        super().__init__(
            "Too many failed sign-ins for this account or from this address; signing in is "
            f"paused for {cooloff_text()}."
        )
        # DRF's handler sends it as Retry-After.
        self.wait = int(settings.AXES_COOLOFF_TIME.total_seconds())


class LockoutAwareBasicAuthentication(BasicAuthentication):
    def authenticate_credentials(
        self, userid: str, password: str, request: Any = None
    ) -> tuple[Any, None]:
        try:
            return super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            if request is not None and getattr(request, "axes_locked_out", False):
                raise SignInPaused() from None
            raise


class LockoutAwareBasicScheme(OpenApiAuthenticationExtension):
    """The OpenAPI document describes it as the HTTP Basic scheme it is."""

    target_class = "iotplatform.authentication.LockoutAwareBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "basic"}
