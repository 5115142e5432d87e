"""The dossier REST API (CONTRACT.md). Views parse and answer; the services decide.

Errors come back as ``{code, detail, errors?}`` through ``motcua.api.exception_handler``:
400 invalid input or ``transition_not_allowed``, 403, 404 (unknown and not visible alike),
409 ``concurrent_change``.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AccessKind
from audit.services import access_record
from dossiers import selectors, services
from dossiers.api.pagination import DossierPagination
from dossiers.api.serializers import (
    DossierAttachmentInputSerializer,
    DossierAttachmentSerializer,
    DossierCreateSerializer,
    DossierDetailSerializer,
    DossierListSerializer,
    DossierReceiptSerializer,
    DossierTransitionInputSerializer,
    ErrorSerializer,
    receipt_data,
    reception_input,
)
from dossiers.models import State
from motcua.errors import DomainError, ValidationError


class DossierNotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = "Không tìm thấy hồ sơ."


def _get(request, code: str, *, details: bool = False):
    """The dossier if the user may see it; 404 alike for unknown and not visible."""
    try:
        return selectors.dossier_get(code=code, user=request.user, details=details)
    except Http404:
        raise DossierNotFound() from None


class EscapedJSONRenderer(JSONRenderer):
    """JSON with ``<``, ``>`` and ``&`` written as ``\\u003c`` etc. (as Django's json_script):
    a name typed as ``<script>…`` stays inert even if a client pastes the JSON into HTML.
    Outside strings JSON never contains these characters, so the bytes can be replaced."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        out = super().render(data, accepted_media_type, renderer_context)
        return out.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")


RENDERERS = [EscapedJSONRenderer, BrowsableAPIRenderer]
ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _bool(params, name: str) -> bool | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationError(
        f"Tham số “{name}” phải là true hoặc false.", errors={name: ["true/false"]}
    )


def _int(params, name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ValidationError(
            f"Tham số “{name}” phải là số nguyên.", errors={name: ["integer"]}
        ) from None


def _filters(request) -> selectors.DossierFilters:
    params = request.query_params
    states = [s for value in params.getlist("state") for s in value.split(",") if s]
    unknown = [s for s in states if s not in State.values]
    if unknown:
        raise ValidationError(
            f"Trạng thái không hợp lệ: {', '.join(unknown)}.", errors={"state": unknown}
        )
    ordering = params.get("ordering") or None
    if ordering and ordering not in selectors.ORDERINGS:
        raise ValidationError(
            f"Thứ tự sắp xếp không hợp lệ: {ordering}.",
            errors={"ordering": list(selectors.ORDERINGS)},
        )
    return selectors.DossierFilters(
        state=states or None, overdue=_bool(params, "overdue"), due_soon=_bool(params, "due_soon"),
        unit=_int(params, "unit"), procedure=params.get("procedure") or None,
        agency=params.get("agency") or None, q=(params.get("q") or "")[:100],
        ordering=ordering, to_assign=bool(_bool(params, "to_assign")),
    )


def _valid(serializer_class, data, **kwargs):
    serializer = serializer_class(data=data, **kwargs)
    if not serializer.is_valid():
        raise ValidationError("Dữ liệu gửi lên không hợp lệ.", errors=serializer.errors)
    return serializer.validated_data


def _detail_response(request, code: str, *, status_code=status.HTTP_200_OK,
                     dossier=None) -> Response:
    if dossier is None:
        dossier = _get(request, code, details=True)
    context = {
        "request": request,
        "available_transitions": services.dossier_available_transitions(
            dossier=dossier, user=request.user
        ),
    }
    return Response(DossierDetailSerializer(dossier, context=context).data, status=status_code)


LIST_PARAMETERS = [
    OpenApiParameter("state", OpenApiTypes.STR, description="Trạng thái (nhiều giá trị: cách nhau bởi dấu phẩy)."),
    OpenApiParameter("overdue", OpenApiTypes.BOOL, description="Quá hạn."),
    OpenApiParameter("due_soon", OpenApiTypes.BOOL, description="Sắp đến hạn."),
    OpenApiParameter("unit", OpenApiTypes.INT, description="Đơn vị đang xử lý (id)."),
    OpenApiParameter("procedure", OpenApiTypes.STR, description="Mã thủ tục."),
    OpenApiParameter("agency", OpenApiTypes.STR, description="Mã định danh cơ quan tiếp nhận."),
    OpenApiParameter("q", OpenApiTypes.STR, description="Mã hồ sơ, tên (không dấu), số giấy tờ, số điện thoại."),
    OpenApiParameter("queue", OpenApiTypes.BOOL, description="Chỉ hồ sơ đang chờ tôi xử lý."),
    OpenApiParameter("to_assign", OpenApiTypes.BOOL, description="(Lãnh đạo, với queue) hồ sơ chưa phân công."),
    OpenApiParameter("ordering", OpenApiTypes.STR, enum=list(selectors.ORDERINGS), description="Mặc định: mới nhất trước (queue: hạn gần nhất trước)."),
]


@extend_schema_view(
    get=extend_schema(
        summary="Danh sách hồ sơ", parameters=LIST_PARAMETERS,
        responses={200: DossierListSerializer(many=True), 400: ErrorSerializer},
    ),
    post=extend_schema(
        summary="Tiếp nhận hồ sơ tại quầy", request=DossierCreateSerializer,
        responses={201: DossierReceiptSerializer, **ERRORS},
    ),
)
class DossierListCreateView(generics.ListCreateAPIView):
    serializer_class = DossierListSerializer
    renderer_classes = RENDERERS
    pagination_class = DossierPagination

    def get_queryset(self):
        filters = _filters(self.request)
        if _bool(self.request.query_params, "queue"):
            return selectors.dossier_queue(user=self.request.user, filters=filters)
        return selectors.dossier_search(user=self.request.user, filters=filters)

    def create(self, request, *args, **kwargs):
        data = reception_input(request.data) or _valid(DossierCreateSerializer, request.data)
        documents = data.get("documents")
        dossier = services.dossier_receive_at_desk(
            procedure=data["procedure"], agency=data.get("agency") or None,
            channel=data["channel"], applicant=dict(data["applicant"]),
            documents=[dict(d) for d in documents] if documents is not None else None,
            actor=request.user,
        )
        return Response(receipt_data(dossier), status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary="Chi tiết hồ sơ (bước xử lý, nhật ký)",
        responses={200: DossierDetailSerializer, 404: ErrorSerializer},
    )
)
class DossierDetailView(APIView):
    renderer_classes = RENDERERS

    def get(self, request, code: str):
        dossier = _get(request, code, details=True)
        response = _detail_response(request, code, dossier=dossier)
        # After the detail's own queries (the data is serialized): one INSERT.
        access_record(request=request, kind=AccessKind.API_DETAIL, dossier=dossier)
        return response


class DossierTransitionView(APIView):
    renderer_classes = RENDERERS
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        summary="Chuyển trạng thái hồ sơ", request=DossierTransitionInputSerializer,
        responses={200: DossierDetailSerializer, **ERRORS, 409: ErrorSerializer},
    )
    def post(self, request, code: str):
        dossier = _get(request, code)
        data = _valid(DossierTransitionInputSerializer, request.data)
        payload = {k: v for k, v in data.items() if k not in ("transition", "comment", "expected_version")}
        dossier = services.dossier_transition(
            dossier=dossier, transition=data["transition"], actor=request.user,
            comment=data.get("comment", ""), expected_version=data.get("expected_version"),
            **payload,
        )
        return _detail_response(request, dossier.code)


class DossierAttachmentView(APIView):
    renderer_classes = RENDERERS
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        summary="Đính kèm tệp (PDF, JPEG, PNG, DOCX)", request=DossierAttachmentInputSerializer,
        responses={201: DossierAttachmentSerializer, **ERRORS},
    )
    def post(self, request, code: str):
        dossier = _get(request, code)
        data = _valid(DossierAttachmentInputSerializer, request.data)
        attachment = services.dossier_attach(
            dossier=dossier, file=data["file"], kind=data["kind"], actor=request.user
        )
        return Response(DossierAttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED)
