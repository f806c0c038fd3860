"""The API's Basic authentication, aware of django-axes' lockouts: a locked account or address
is a 429 saying why (DRF would answer a bare 403, as for a wrong password)."""

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication


class SignInPaused(exceptions.APIException):
    status_code = 429
    default_code = "sign_in_paused"

    def __init__(self) -> None:
        cooloff = settings.AXES_COOLOFF_TIME
        super().__init__(
            "Too many failed sign-ins for this account or from this address; signing in is "
            f"paused for {cooloff}."
        )
        self.wait = int(cooloff.total_seconds())  # DRF's handler sends it as Retry-After


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
