"""Report API (CONTRACT.md): the summary, and the weekly report files."""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from motcua.errors import PermissionDenied, ValidationError
from motcua.models import Agency, Role
from motcua.permissions import has_role
from reports.forms import default_period
from reports.models import WeeklyReport
from reports.selectors import GROUPS, Period, report_scope_for, report_summary


class SummaryQuery(serializers.Serializer):
    # "from" is a Python keyword: the field is declared under its public name below.
    to = serializers.DateField(required=False)
    agency = serializers.CharField(required=False, allow_blank=True)
    group_by = serializers.ChoiceField(choices=list(GROUPS), required=False, allow_blank=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(required=False)
        return fields


def _validated(query) -> dict:
    serializer = SummaryQuery(data=query)
    if not serializer.is_valid():
        raise ValidationError(
            _("Tham số không hợp lệ: ngày theo dạng YYYY-MM-DD, group_by là một trong: %(g)s.")
            % {"g": ", ".join(GROUPS)},
            code="invalid_query", errors=serializer.errors,
        )
    return serializer.validated_data


def _agency_id(value: str) -> int | None:
    """``agency`` = the agency's national identifier code (``000.00.10.H01``) or its id."""
    if not value:
        return None
    match = Agency.objects.filter(code=value).values_list("id", flat=True).first()
    if match is None and value.isdigit():
        match = Agency.objects.filter(pk=int(value)).values_list("id", flat=True).first()
    if match is None:
        raise ValidationError(_("Không tìm thấy cơ quan “%(a)s”.") % {"a": value},
                              code="unknown_agency")
    return match


class ReportSummaryView(APIView):
    """The figures of a period (docs/reports.md), for supervisors (whole province) and unit
    leaders (dossiers through their units)."""

    @extend_schema(parameters=[
        OpenApiParameter("from", str, description="YYYY-MM-DD (mặc định: đầu tháng)"),
        OpenApiParameter("to", str, description="YYYY-MM-DD (mặc định: hôm nay)"),
        OpenApiParameter("agency", str, description="mã định danh hoặc id của cơ quan"),
        OpenApiParameter("group_by", str, enum=list(GROUPS)),
    ], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        scope = report_scope_for(request.user)
        data = _validated(request.query_params)
        fallback = default_period()
        period = Period(data.get("from") or fallback.start, data.get("to") or fallback.end)
        summary = report_summary(
            period=period, scope=scope, agency_id=_agency_id(data.get("agency", "")),
            group_by=data.get("group_by") or None,
        )
        return Response(summary.as_dict())


class WeeklyReportFileView(APIView):
    """``/reports/weekly/2026-W47.pdf`` or ``.xlsx``: a built weekly report (supervisors)."""

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY,
                              (200, "application/vnd.openxmlformats-officedocument."
                                    "spreadsheetml.sheet"): OpenApiTypes.BINARY})
    def get(self, request, year: str, week: str, ext: str):
        from reports.views import weekly_file_response

        if not (request.user.is_superuser or has_role(request.user, Role.SUPERVISOR)):
            raise PermissionDenied(_("Chỉ lãnh đạo UBND / Văn phòng UBND được tải báo cáo tuần."))
        Period.iso_week(int(year), int(week))
        report = WeeklyReport.objects.filter(year=int(year), week=int(week)).first()
        if report is None:
            raise Http404(_("Chưa có báo cáo của tuần này."))
        return weekly_file_response(report, ext)
