"""OpenAPI description of the device endpoints, which the ASGI ingest app serves outside DRF.

Added to the DRF-generated document by a drf-spectacular post-processing hook, so one document
describes every endpoint.
"""

from typing import Any

from django.conf import settings

_READING = {
    "oneOf": [
        {
            "type": "object",
            "description": "metric → number, stored at the server's time",
            "additionalProperties": {"type": "number"},
            "example": {"temperature": 71.2, "vibration": 0.4},
        },
        {
            "type": "object",
            "required": ["values"],
            "properties": {
                "ts": {
                    "oneOf": [
                        {"type": "integer", "description": "milliseconds since the epoch"},
                        {"type": "string", "format": "date-time"},
                    ]
                },
                "values": {"type": "object", "additionalProperties": {"type": "number"}},
            },
            "example": {"ts": 1730000000000, "values": {"temperature": 71.2}},
        },
    ]
}
_PAYLOAD = {"oneOf": [_READING, {"type": "array", "items": _READING}]}
_ANSWER = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer"},
        "duplicate": {"type": "integer", "description": "already stored (a resend)"},
        "rejected": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "reason": {"type": "string"},
                    "item": {"type": "integer"},
                    "key": {"type": "string"},
                    "device": {"type": "string"},
                },
            },
        },
    },
}


def _responses() -> dict[str, Any]:
    def detail(text: str) -> dict[str, Any]:
        return {
            "description": text,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {"detail": {"type": "string"}}}
                }
            },
        }

    return {
        "200": {
            "description": "stored (see the counts)",
            "content": {"application/json": {"schema": _ANSWER}},
        },
        "400": detail("malformed JSON, an unknown shape, or nothing storable"),
        "401": detail("missing, unknown or revoked credentials"),
        "413": detail(
            f"more than {settings.INGEST_MAX_POINTS} points or "
            f"{settings.INGEST_MAX_BODY_BYTES} bytes"
        ),
        "429": detail("rate limited; see Retry-After"),
        "503": detail("storage unavailable; nothing was stored, retry"),
    }


def _operation(
    operation_id: str,
    summary: str,
    description: str,
    security: list[dict[str, list[str]]],
    payload: dict[str, Any],
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": operation_id,
        "tags": ["device ingestion"],
        "summary": summary,
        "description": description,
        "security": security,
        "requestBody": {"required": True, "content": {"application/json": {"schema": payload}}},
        "responses": _responses(),
    }
    if parameters:
        op["parameters"] = parameters
    return op


def add_device_endpoints(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["deviceToken"] = {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Device <token> (or X-API-Key: <token>)",
    }
    schemes["ingestKey"] = {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Gateway <tenant ingestion key> (or X-API-Key)",
    }
    paths = result.setdefault("paths", {})
    paths["/api/v1/ingest"] = {
        "post": _operation(
            "ingest_create",
            "Send readings of one device",
            "Readings at the server's time, or with `ts`; an array of either. Idempotent on "
            "(device, metric, time): a resend is counted as duplicate, never stored twice.",
            [{"deviceToken": []}],
            _PAYLOAD,
        )
    }
    paths["/api/v1/{token}/telemetry"] = {
        "post": _operation(
            "token_telemetry_create",
            "Send readings, ThingsBoard-compatible",
            "ThingsBoard's device telemetry API: firmware written for it works unchanged.",
            [],
            _PAYLOAD,
            [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
        )
    }
    paths["/api/v1/gateway/telemetry"] = {
        "post": _operation(
            "gateway_telemetry_create",
            "Send readings of many devices (gateway)",
            "Keyed by device serial; every device must belong to the key's tenant.",
            [{"ingestKey": []}],
            {
                "type": "object",
                "additionalProperties": _PAYLOAD,
                "example": {"PUM-00001": [{"ts": 1730000000000, "values": {"temperature": 70.1}}]},
            },
        )
    }
    return result
