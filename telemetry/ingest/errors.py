"""The one error of the ingest pipeline, whatever the transport.

``status`` is the HTTP status the HTTP transport answers with; other transports map it to their
own terms (MQTT: drop and record the reason). ``retry_after`` (seconds) says the caller may send
the same again later and nothing was stored.
"""


class IngestError(Exception):
    def __init__(self, status: int, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def unauthorized(message: str) -> IngestError:
    return IngestError(401, message)


def too_large(message: str) -> IngestError:
    return IngestError(413, message)


def too_many(message: str) -> IngestError:
    return IngestError(429, message, retry_after=1)


def unavailable() -> IngestError:
    return IngestError(503, "storage unavailable; nothing was stored, retry", retry_after=2)
