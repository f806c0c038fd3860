"""The broker's credentials file: the SHA-256 digest of every valid device token and
ingestion key, and the bridge's login, as the plugin (``broker/iot_auth.c``) reads them.

    d <sha256 of a device token> <tenant id> <device id>
    g <sha256 of an ingestion key> <tenant id> <key id>
    b iot-bridge <sha256 of the bridge's password>

Tokens are stored hashed with SHA-256 (``devices.tokens``), so the file holds nothing a device
could log in with (tokens and the bridge's password are 256 random bits: their digests cannot be
reversed), and it is readable by the broker's user. It is written whole into a temporary file
and moved into place: the plugin never reads half of it, and re-reads it within a second of its
changing (disconnecting whoever lost a credential). The bridge rewrites it whenever the
credentials' fingerprint changes.
"""

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connection

BRIDGE_USERNAME = "iot-bridge"

ROWS_SQL = """
SELECT 'd', c.token_hash, d.tenant_id, d.id
FROM devices_devicecredential c JOIN devices_device d ON d.id = c.device_id
WHERE c.revoked_at IS NULL
UNION ALL
SELECT 'g', k.token_hash, k.tenant_id, k.id FROM devices_ingestkey k WHERE k.revoked_at IS NULL
ORDER BY 2
"""
# Changes with any credential issued, revoked or deleted (with its device or tenant).
FINGERPRINT_SQL = """
SELECT (SELECT count(*) FROM devices_devicecredential WHERE revoked_at IS NULL),
       (SELECT max(id) FROM devices_devicecredential),
       (SELECT max(revoked_at) FROM devices_devicecredential),
       (SELECT count(*) FROM devices_ingestkey WHERE revoked_at IS NULL),
       (SELECT max(id) FROM devices_ingestkey),
       (SELECT max(revoked_at) FROM devices_ingestkey)
"""


def bridge_password() -> str:
    """The bridge's password at the broker: MQTT_BRIDGE_PASSWORD, or one derived from the
    SECRET_KEY (never sent anywhere but to the local broker)."""
    configured = settings.MQTT_BRIDGE_PASSWORD
    if configured:
        return str(configured)
    return hashlib.sha256(f"mqtt-bridge:{settings.SECRET_KEY}".encode()).hexdigest()


def credentials_fingerprint() -> tuple[object, ...]:
    with connection.cursor() as cursor:
        cursor.execute(FINGERPRINT_SQL)
        return tuple(cursor.fetchone() or ())


def credentials_text() -> str:
    lines = ["# written by the platform (telemetry/mqtt/credentials.py); do not edit"]
    with connection.cursor() as cursor:
        cursor.execute(ROWS_SQL)
        lines.extend(f"{kind} {digest} {tenant} {ident}" for kind, digest, tenant, ident in cursor)
    digest = hashlib.sha256(bridge_password().encode()).hexdigest()
    lines.append(f"b {BRIDGE_USERNAME} {digest}")
    return "\n".join(lines) + "\n"


def credentials_write(path: str | Path | None = None) -> Path:
    """Write the file whole (atomically); returns its path."""
    target = Path(path or settings.MQTT_CREDENTIALS_FILE)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = credentials_text()
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".credentials-")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.chmod(temporary, 0o644)  # digests only; the broker may run as another user
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
