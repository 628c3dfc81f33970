from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

MAX_PAGE = 10**18 - 1  # fits in int64; no list has that many pages


def _whole(raw: str, maximum: int) -> bool:
    """ASCII digits only (``str.isdigit`` also takes ``"²"``, which ``int`` refuses), and
    short enough that ``int`` never meets Python's digit limit."""
    return raw.isascii() and raw.isdigit() and len(raw) <= len(str(maximum)) and 1 <= int(raw) <= maximum


class StandardPagination(PageNumberPagination):
    """``page_size`` outside 1..max_page_size, or not an integer, is a 400, not silently
    replaced by the default (a client asking for 1000 rows should learn it got fewer).
    ``page`` that is not a whole number from 1 up (``-1``, ``0``, ``abc``, or more digits
    than any page can have) is a 400 too; a well-formed page past the last one is a 404
    (as docs/api.md says: the request is valid, the page does not exist)."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Any) -> int | None:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not _whole(raw, self.max_page_size):
            raise ValidationError(
                {self.page_size_query_param: [f"Must be a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_page_number(self, request: Any, paginator: Any) -> int:
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if raw in self.last_page_strings:
            return paginator.num_pages
        if not _whole(raw, MAX_PAGE):
            raise ValidationError({self.page_query_param: [f"Must be a whole number from 1 to {MAX_PAGE}."]})
        return int(raw)
