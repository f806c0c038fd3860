"""Request rates of the people API (DRF throttles): per person signed in, and per address, so
neither a runaway script nor one address trying many accounts costs everyone else the platform.

Counted in the shared cache (Redis), so every web process counts together; the rates are
settings (``API_RATE_PERSON``, ``API_RATE_ADDRESS``: ``<n>/<second|minute|hour|day>``). Beyond
a rate the answer is 429 naming it, with ``Retry-After``. Devices are not people: ingestion has
its own limits (``telemetry/ingest/limits.py``) and provisioning is exempt. With the cache down
the throttles let requests through (logged), as the ingest limiter does: refusing every person
would be the worse outage.
"""

import logging
from typing import Any

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class _Throttle(SimpleRateThrottle):
    setting = ""
    what = ""

    def get_rate(self) -> str | None:  # read each time: settings may change (tests)
        return str(getattr(settings, self.setting))

    def __init__(self) -> None:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def allow_request(self, request: Request, view: Any) -> bool:
        """True, or a 429 naming the rate that was passed (raised here: DRF's own answer
        does not say which)."""
        try:
            allowed = super().allow_request(request, view)
        except Exception:  # the cache (Redis) is down: let the request through
            logger.warning("API throttle unavailable; not limiting", exc_info=True)
            return True
        if allowed:
            return True
        raise Throttled(wait=self.wait(), detail=f"more than {self.rate} API requests {self.what}.")


class PersonRateThrottle(_Throttle):
    """Requests of one signed-in person (session, Basic auth), whatever the address."""

    scope = "person"
    setting = "API_RATE_PERSON"
    what = "for this account"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AddressRateThrottle(_Throttle):
    """Requests from one address, signed in or not."""

    scope = "address"
    setting = "API_RATE_ADDRESS"
    what = "from this address"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
