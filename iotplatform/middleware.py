"""Guards in front of every view."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


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
