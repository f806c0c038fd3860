"""The error answers every API operation can give, declared in the OpenAPI document.

A drf-spectacular post-processing hook (last in ``SPECTACULAR_SETTINGS``), so a new endpoint is
covered the day it is added: an OpenAPI fuzzer had found 22 status codes the schema did not
declare. Each error has DRF's shape, ``{"detail": …}`` (or field → messages for a 400).
"""

from typing import Any

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
    "description": "detail, or field → messages for a 400",
}

WHY = {
    "400": "invalid input or query parameter (named in the answer)",
    "401": "no or unknown credentials",
    "403": "signed in, but the role or the tenant does not allow it",
    "404": "no such object in your tenant, named in the path or the query (another tenant's "
    "looks the same)",
    "405": "method not allowed",
    "408": "the request's headers or body did not arrive in time",
    "413": "request too large",
    "429": "rate limited, or signing in paused after failed attempts (Retry-After)",
    "503": "the database is busy or unavailable; retry (Retry-After)",
}


def declare_errors(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Add the errors an operation can answer to each operation that does not declare them."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            # 404 everywhere: an object named in the path or in the query (export's devices).
            codes = ["400", "401", "403", "404", "405", "408", "429", "503"]
            if method in ("post", "put", "patch"):
                codes.append("413")
            responses = operation["responses"]
            for code in codes:
                if responses.get(code) is None:
                    responses[code] = {
                        "description": WHY[code],
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
    return result
