"""The API's JSON: like DRF's, but a number JSON cannot carry (an infinite rollup sum stored
before values were bounded, a mean overflowing on extremes) is written as null instead of
failing the whole answer with a 500."""

import math
from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import JSONRenderer


class FiniteJSONRenderer(JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except ValueError:  # "Out of range float values are not JSON compliant" (strict mode)
            return super().render(finite(data), accepted_media_type, renderer_context)


def finite(data: Any) -> Any:
    """``data`` with every NaN and ±Infinity replaced by None (only walked when one is there)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite(value) for value in data]
    return data
