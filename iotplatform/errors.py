"""Turning Django validation errors into messages for people (commands, API answers)."""

from django.core.exceptions import ValidationError


def validation_dict(exc: ValidationError) -> dict[str, list[str]]:
    """Field → messages (``detail`` for errors not tied to a field)."""
    if hasattr(exc, "message_dict"):
        return dict(exc.message_dict)
    return {"detail": list(exc.messages)}


def validation_text(exc: ValidationError) -> str:
    """One line: ``field: message; other: message``."""
    return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in validation_dict(exc).items())
