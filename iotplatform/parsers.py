"""The API's JSON bodies, refused with a 400 naming the problem when the database could not hold
them: nested deeper than any of our documents (a deep document costs recursion, and past
Python's limit DRF's parser answers 500), or holding a NUL character (PostgreSQL's text and
jsonb cannot store one)."""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels") from None
        problem = json_problem(data)
        if problem:
            raise ParseError(f"JSON parse error - {problem}")
        return data


def json_problem(data: Any, depth: int = 0) -> str | None:
    """Why a decoded JSON document cannot be stored, or None."""
    if depth > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if isinstance(data, str):
        return "a string holds a NUL character" if "\x00" in data else None
    if isinstance(data, dict):
        for key, value in data.items():
            problem = json_problem(key, depth + 1) or json_problem(value, depth + 1)
            if problem:
                return problem
    elif isinstance(data, list):
        for value in data:
            problem = json_problem(value, depth + 1)
            if problem:
                return problem
    return None
