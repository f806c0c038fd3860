"""Fixtures of the alerts tests."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .. import servers


@pytest.fixture
def smtp(tmp_path: Path, settings: Any) -> Iterator[Path]:
    """The development SMTP sink as the email server; yields the folder it keeps messages in."""
    box = tmp_path / "mail"
    with servers.mail_sink(box) as port:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.PUBLIC_URL = "https://iot.acme.example"
        yield box
