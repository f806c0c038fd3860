"""The API's pages: ``limit`` and ``offset`` as DRF's, capped. A limit above the cap answers
the cap's worth; an offset no table could reach is a 400 naming it (it would otherwise overflow
the database's 64-bit OFFSET)."""

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

MAX_PAGE = 1000
MAX_OFFSET = 10**9


class Pagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = MAX_PAGE

    def get_offset(self, request: Request) -> int:
        offset: int = super().get_offset(request)
        if offset > MAX_OFFSET:
            raise ValidationError({self.offset_query_param: f"at most {MAX_OFFSET}"})
        return offset

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"]["maximum"] = MAX_PAGE
                parameter["description"] = (
                    f"Number of results to return per page (at most {MAX_PAGE})."
                )
        return parameters
