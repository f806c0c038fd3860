from typing import Any

from django.http import HttpRequest

from . import selectors


def tenancy(request: HttpRequest) -> dict[str, Any]:
    """The current membership and the user's other tenants, for the header and its switcher."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = getattr(request, "membership", None)
    return {
        "membership": membership if membership else None,
        "memberships": lambda: list(selectors.membership_list(user=user)),
    }
