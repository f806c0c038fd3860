"""Guards in front of every view."""

from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from psycopg import errors as pg_errors

BUSY_RETRY_SECONDS = 5


class QueryGuardMiddleware:
    """A query parameter holding a control character (a NUL above all, which PostgreSQL cannot
    compare with anything) is a 400 naming the parameter, before any view or query runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name, values in request.GET.lists():
            for text in (name, *values):
                if any(ord(c) < 32 or c == "\x7f" for c in text):
                    shown = name.encode("unicode_escape").decode()[:64]
                    return JsonResponse(
                        {"detail": f"query parameter {shown!r}: control characters refused"},
                        status=400,
                    )
        return self.get_response(request)


class DatabaseBusyMiddleware:
    """A statement cancelled by its time bound or a lock not granted in time (the bounds of
    ``DB_STATEMENT_TIMEOUT_MS`` / ``DB_LOCK_TIMEOUT_MS``) is a 503 saying so, with Retry-After —
    not a 500, and not a request hanging for as long as the lock is held."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        cause = exception.__cause__ if isinstance(exception, OperationalError) else None
        if isinstance(cause, pg_errors.LockNotAvailable):
            detail = "the data is locked by other work; try again in a few seconds"
        elif isinstance(cause, pg_errors.QueryCanceled):
            detail = "the query took too long; narrow the range or try again later"
        else:
            return None
        response = JsonResponse({"detail": detail}, status=503)
        response["Retry-After"] = str(BUSY_RETRY_SECONDS)
        return response


# Scripts only from our own files (no inline code, no eval); styles may be inline because
# Plotly writes its own <style> elements; sockets back to this host; nothing may frame a page.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Every page (the app's, the admin's, the API docs) carries the policy above, so a script
    that slipped into a page through data would not run."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
