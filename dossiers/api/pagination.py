"""Pages of the dossier list (``GET /api/v1/dossiers/``).

Two ways through the same list, in the same order:

- **By page number** (the default; ``?page=``): for people. The total is counted up to
  ``CappedCountPaginator.COUNT_CAP`` rows, and pages go that far.
- **By cursor** (``?pagination=cursor``, then the ``next`` link's ``?cursor=``): for programs
  that read everything (a synchronisation, an archive). Each page starts after the last row of
  the one before (``selectors.dossiers_after``), so page 40,000 costs what page 1 does, no
  row is counted, and nothing is missed or repeated when dossiers arrive meanwhile. ``count``
  is null and there is no ``previous``.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from dossiers import selectors
from motcua.errors import ValidationError


def encode_cursor(ordering: str, value: datetime | None, pk: int) -> str:
    """The cursor of the row with sort value ``value`` and id ``pk`` in order ``ordering``."""
    payload = {"o": ordering, "v": value.isoformat() if value is not None else None, "id": pk}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class CappedCountPaginator(Paginator):
    """Counts at most ``COUNT_CAP`` + 1 rows: over a province's decade of dossiers an exact
    ``COUNT(*)`` of a broad filter reads millions of rows for every page (665 ms at ten
    million). ``count`` is then exact up to the cap and ``COUNT_CAP + 1`` means "more";
    pages go as far as the cap (400 pages of 25) — narrow the filter, or read by cursor, to
    reach the rest."""

    COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.COUNT_CAP + 1].count()


class DossierPagination(PageNumberPagination):
    django_paginator_class = CappedCountPaginator
    mode_query_param = "pagination"
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        self.cursor_mode = (
            params.get(self.mode_query_param) == "cursor" or self.cursor_query_param in params
        )
        if not self.cursor_mode:
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        self.ordering = selectors.ordering_of(queryset)
        if self.ordering is None:  # every list of the API is sorted by one of ORDERINGS
            raise RuntimeError("The dossier list must be sorted by one of selectors.ORDERINGS.")
        token = params.get(self.cursor_query_param)
        if token:
            value, pk = self._decode(token)
            queryset = selectors.dossiers_after(queryset, ordering=self.ordering, value=value, pk=pk)
        size = self.get_page_size(request)
        rows = list(queryset[: size + 1])
        self.has_next = len(rows) > size
        rows = rows[:size]
        self.last = rows[-1] if rows else None
        return rows

    def get_paginated_response(self, data):
        if not self.cursor_mode:
            return super().get_paginated_response(data)
        return Response({"count": None, "next": self._next_link(), "previous": None, "results": data})

    # -- the cursor: the order's name, the last row's sort value and id (not a secret: the
    #    list is already limited to what the user may see, whatever the cursor says) -------

    def _next_link(self) -> str | None:
        if not self.has_next or self.last is None:
            return None
        column = selectors.ORDERINGS[self.ordering][0].lstrip("-")
        token = encode_cursor(self.ordering, getattr(self.last, column), self.last.pk)
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        url = replace_query_param(url, self.mode_query_param, "cursor")
        return replace_query_param(url, self.cursor_query_param, token)

    def _decode(self, token: str) -> tuple[datetime | None, int]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = json.loads(raw)
            ordering, value, pk = payload["o"], payload["v"], payload["id"]
            if ordering != self.ordering:
                raise ValueError("another order")
            if isinstance(pk, bool) or not isinstance(pk, int):
                raise ValueError("id")
            moment = None if value is None else datetime.fromisoformat(value)
            if moment is not None and moment.tzinfo is None:
                raise ValueError("naive")
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
            message = ("Con trỏ trang không hợp lệ (hoặc đã đổi thứ tự sắp xếp): đọc lại từ "
                       "trang đầu với ?pagination=cursor.")
            raise ValidationError(message, code="invalid_cursor",
                                  errors={"cursor": [message]}) from exc
        return moment, pk

    # -- OpenAPI ------------------------------------------------------------------------------

    def get_schema_operation_parameters(self, view):
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.mode_query_param, "required": False, "in": "query",
                "description": "cursor: đọc lần lượt toàn bộ danh sách theo con trỏ (không đếm tổng, "
                               "mọi trang nhanh như trang đầu); mặc định: theo số trang.",
                "schema": {"type": "string", "enum": ["page", "cursor"]},
            },
            {
                "name": self.cursor_query_param, "required": False, "in": "query",
                "description": "Con trỏ trang sau (lấy từ liên kết next).",
                "schema": {"type": "string"},
            },
        ]

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["count"] = {
            "type": "integer", "nullable": True,
            "description": f"Tổng số, đếm tối đa {CappedCountPaginator.COUNT_CAP + 1:,} "
                           "(null khi đọc theo con trỏ).",
        }
        return answer

