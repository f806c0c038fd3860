"""Turning Django validation errors into messages for people (commands, API answers)."""

from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler


def validation_dict(exc: ValidationError) -> dict[str, list[str]]:
    """Field → messages (``detail`` for errors not tied to a field)."""
    if hasattr(exc, "message_dict"):
        return dict(exc.message_dict)
    return {"detail": list(exc.messages)}


def validation_text(exc: ValidationError) -> str:
    """One line: ``field: message; other: message``."""
    return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in validation_dict(exc).items())


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, and a service's Django ``ValidationError`` is a 400 naming the field and
    the problem in DRF's own shape — so views call services without a try/except each."""
    if isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(validation_dict(exc))
    return exception_handler(exc, context)
