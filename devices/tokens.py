"""Access tokens for devices and gateways: ``<prefix>.<secret>``, stored as prefix + SHA-256."""

import hashlib
import hmac
import secrets
from typing import NamedTuple


class NewToken(NamedTuple):
    token: str
    prefix: str
    token_hash: str


def token_generate() -> NewToken:
    prefix = secrets.token_hex(6)
    token = f"{prefix}.{secrets.token_urlsafe(32)}"
    return NewToken(token, prefix, token_hash(token))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_prefix(token: str) -> str | None:
    """The lookup prefix of a well-formed token, or None."""
    prefix, dot, secret = token.partition(".")
    if not dot or len(prefix) != 12 or len(secret) < 20 or len(token) > 128:
        return None
    return prefix


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)
