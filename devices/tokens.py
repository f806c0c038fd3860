"""Access tokens for devices and gateways: ``<prefix>.<secret>``, stored as prefix + SHA-256."""

import hashlib
import hmac
import re
import secrets
from typing import NamedTuple

# What token_generate makes (hex prefix, URL-safe secret); anything else is not looked up, so a
# NUL, a control character or a lone surrogate never reaches the database or the hash.
WELL_FORMED = re.compile(r"[0-9a-f]{12}\.[A-Za-z0-9_\-]{20,115}")


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
    if WELL_FORMED.fullmatch(token) is None:
        return None
    return token[:12]


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)
