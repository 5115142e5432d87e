"""The catalogue's REST API: list, detail and the appointment a dossier received now would get.

Read-only: the catalogue is edited on the staff pages, by import and in the admin, all through
`procedures.services`.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from motcua.errors import ValidationError
from procedures.api.serializers import (
    AppointmentSerializer,
    ProcedureDetailSerializer,
    ProcedureListSerializer,
    time_limit_value,
)
from procedures.models import Channel, Level, ProcedureVersion
from procedures.selectors import (
    procedure_due_at,
    procedure_get,
    procedure_search,
    procedure_time_limit,
)

#: Procedure codes contain dots (1.001193.000.00.00.H01).
CODE_REGEX = r"[0-9A-Za-z][0-9A-Za-z.\-]*"

CODE_PARAMETER = OpenApiParameter(
    "code", OpenApiTypes.STR, OpenApiParameter.PATH,
    description="Mã thủ tục, ví dụ 1.001193.000.00.00.H01.",
)


class CataloguePagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


@extend_schema_view(
    list=extend_schema(
        summary="Danh mục thủ tục hành chính",
        description="Phiên bản hiện hành của các thủ tục đang áp dụng, theo mã. Tìm kiếm không "
                    "phân biệt hoa thường và dấu tiếng Việt.",
        parameters=[
            OpenApiParameter("search", OpenApiTypes.STR, description="Từ khóa: mã, tên, lĩnh vực, cơ quan."),
            OpenApiParameter("field", OpenApiTypes.STR, description="Mã lĩnh vực."),
            OpenApiParameter("agency", OpenApiTypes.STR, description=(
                "Mã định danh cơ quan thực hiện; với một UBND xã gồm cả thủ tục cấp xã chung.")),
            OpenApiParameter("level", OpenApiTypes.STR, enum=Level.values, description="Cấp thực hiện."),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="Số dòng một trang (tối đa 100)."),
        ],
    ),
    retrieve=extend_schema(
        summary="Chi tiết thủ tục",
        description="Phiên bản hiện hành: phí, lệ phí, thành phần hồ sơ, quy trình nội bộ, "
                    "thời hạn theo cách thức nộp, số phiên bản và ngày hiệu lực.",
        parameters=[CODE_PARAMETER],
    ),
)
class ProcedureViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_field = "code"
    lookup_url_kwarg = "code"
    lookup_value_regex = CODE_REGEX
    pagination_class = CataloguePagination
    serializer_class = ProcedureListSerializer
    queryset = ProcedureVersion.objects.none()  # for the schema; get_queryset reads the selector

    def get_serializer_class(self):
        if self.action == "retrieve":
            return ProcedureDetailSerializer
        return ProcedureListSerializer

    def get_queryset(self):
        params = self.request.query_params
        level = params.get("level", "").strip()
        if level and level not in Level.values:
            raise ValidationError(
                _("Cấp thực hiện “%(value)s” không hợp lệ; dùng một trong: %(choices)s.")
                % {"value": level, "choices": ", ".join(Level.values)},
                errors={"level": [_("Giá trị không hợp lệ.")]},
            )
        return procedure_search(
            q=params.get("search", ""),
            field=params.get("field", "").strip() or None,
            agency=params.get("agency", "").strip() or None,
            level=level or None,
        )

    def get_object(self) -> ProcedureVersion:
        try:
            return procedure_get(code=self.kwargs["code"])
        except ProcedureVersion.DoesNotExist:
            raise NotFound(_("Không có thủ tục mã “%(code)s”.") % {"code": self.kwargs["code"]}) from None

    @extend_schema(
        summary="Ngày hẹn trả kết quả",
        description="Ngày hẹn trả của một hồ sơ tiếp nhận vào thời điểm `received_at`, theo thời "
                    "hạn của cách thức nộp và lịch làm việc của cơ quan. Thời điểm không kèm múi "
                    "giờ được hiểu là giờ Việt Nam (Asia/Ho_Chi_Minh).",
        parameters=[
            CODE_PARAMETER,
            OpenApiParameter("received_at", OpenApiTypes.DATETIME, required=True,
                             description="Thời điểm tiếp nhận, ISO 8601, ví dụ 2026-11-23T09:00:00+07:00."),
            OpenApiParameter("channel", OpenApiTypes.STR, enum=Channel.values,
                             description="Cách thức nộp; mặc định: trực tiếp (hoặc cách thức duy nhất của thủ tục)."),
        ],
        responses=AppointmentSerializer,
    )
    @action(detail=True, methods=["get"], url_path="appointment")
    def appointment(self, request: Request, code: str) -> Response:
        version = self.get_object()
        received_at = _received_at(request.query_params.get("received_at"))
        channel = _channel(request.query_params.get("channel"), version)
        due_at = procedure_due_at(version=version, received_at=received_at, channel=channel)
        amount, unit = procedure_time_limit(version=version, channel=channel)
        body = {"due_at": due_at, "received_at": received_at, "channel": channel,
                "time_limit": time_limit_value(amount, unit), "version": version.number}
        return Response(AppointmentSerializer(body).data)


#: How far from today (in years) a reception moment may lie for the appointment endpoint.
RECEIVED_AT_YEARS = 50


def _received_at(raw: str | None) -> datetime:
    """An ISO 8601 moment; without an offset it is read as Vietnam's time."""
    raw = (raw or "").strip()
    message = _("Thời điểm tiếp nhận (received_at) không hợp lệ: cần dạng ISO 8601, ví dụ "
                "2026-11-23T09:00:00+07:00.")
    if not raw:
        raise ValidationError(message, code="invalid_received_at",
                              errors={"received_at": [_("Bắt buộc.")]})
    try:
        # A "+" of an offset arrives as a space when the caller did not encode the query.
        value = parse_datetime(raw.replace(" ", "+") if "T" in raw else raw)
    except ValueError:
        value = None
    if value is None:
        raise ValidationError(message, code="invalid_received_at",
                              errors={"received_at": [message]})
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    # The office calendar covers a window of years around today: a moment centuries away is
    # a caller's mistake (400), not a reason to fail.
    if abs(value.year - timezone.now().year) > RECEIVED_AT_YEARS:
        out_of_range = _("Thời điểm tiếp nhận (received_at) phải trong vòng %(years)d năm so với "
                         "hiện tại.") % {"years": RECEIVED_AT_YEARS}
        raise ValidationError(out_of_range, code="invalid_received_at",
                              errors={"received_at": [out_of_range]})
    return value


def _channel(raw: str | None, version: ProcedureVersion) -> str:
    """The channel asked for, which the procedure must accept; by default in person, or the
    only channel the procedure has."""
    raw = (raw or "").strip()
    accepted = version.channels
    if not raw:
        return Channel.IN_PERSON if Channel.IN_PERSON in accepted or not accepted else accepted[0]
    if raw not in Channel.values:
        raise ValidationError(
            _("Cách thức nộp “%(value)s” không hợp lệ; dùng một trong: %(choices)s.")
            % {"value": raw, "choices": ", ".join(Channel.values)},
            code="invalid_channel", errors={"channel": [_("Giá trị không hợp lệ.")]},
        )
    if raw not in accepted:
        raise ValidationError(
            _("Thủ tục này không nhận hồ sơ theo cách thức “%(channel)s”.")
            % {"channel": Channel(raw).label},
            code="channel_not_accepted", errors={"channel": [_("Cách thức không được chấp nhận.")]},
        )
    return raw
