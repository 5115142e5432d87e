"""``GET /api/v1/dossiers/{code}/documents/{kind}.pdf`` — an official form as PDF (CONTRACT.md).

Token or session authentication like the rest of the API. Success is the PDF itself
(``application/pdf``, inline, ``<code>-<kind>.pdf``); errors are the API's JSON
``{code, detail}`` whatever the client's Accept header asked for: 404 ``not_found`` for an
unknown dossier and for one the user may not see, 400 ``document_not_applicable`` for a form
the dossier's state or history does not have.

A dossier may have several apology letters (Mẫu 04, one per missed appointment, never
deleted). ``apology.pdf`` is the latest; any one of them is re-printed by its number, either
``apology.pdf?number=N`` (400 for a number the dossier does not have) or its own address
``apology-N.pdf`` (404 then), which is what the dossier detail's ``apologies[].pdf_url`` gives.
Either way the file is named ``<code>-apology-N.pdf``.

Wiring (``dossiers/api/urls.py``)::

    re_path(rf"^dossiers/{CODE}/documents/(?P<kind>{KIND_PATTERN})\\.pdf$",
            DossierDocumentView.as_view(), name="api-dossier-document")
    re_path(rf"^dossiers/{CODE}/documents/apology-(?P<number>[0-9]{1,4})\\.pdf$",
            DossierApologyDocumentView.as_view(), name="api-dossier-apology")
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import access_record_document
from dossiers import selectors
from dossiers.documents import (
    KINDS,
    DocumentNotApplicable,
    apology_number,
    document_filename,
    document_options,
    pdf_response,
    render_dossier_document,
)
from motcua.errors import DomainError


class DocumentNotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = "Không tìm thấy hồ sơ."


class PDFRenderer(BaseRenderer):
    """Lets clients send ``Accept: application/pdf``; the view answers PDF bytes itself."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class DossierDocumentView(APIView):
    renderer_classes = [JSONRenderer, PDFRenderer]

    @extend_schema(
        operation_id="dossier_document",
        summary="Văn bản của hồ sơ (PDF)",
        description=(
            "Biểu mẫu theo Phụ lục I Thông tư 03/2025/TT-VPCP: receipt (Mẫu 01), supplement "
            "(Mẫu 02), refusal (Mẫu 03), apology (Mẫu 04), stop-notice (Mẫu 05), "
            "control-sheet (Mẫu 06)."
        ),
        parameters=[
            OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("kind", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(KINDS)),
            OpenApiParameter(
                "number", OpenApiTypes.INT, OpenApiParameter.QUERY, required=False,
                description="apology: số thứ tự văn bản xin lỗi của hồ sơ (mặc định: văn bản mới nhất)",
            ),
        ],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            400: OpenApiResponse(description="document_not_applicable"),
            404: OpenApiResponse(description="not_found"),
        },
    )
    def get(self, request, code: str, kind: str):
        return self.serve(request, code, kind)

    def serve(self, request, code: str, kind: str, number: str | None = None):
        if kind not in KINDS:
            raise DocumentNotFound("Không có loại văn bản này.")
        try:
            dossier = selectors.dossier_get(code=code, user=request.user)
        except Http404:
            raise DocumentNotFound() from None
        if number is not None:  # apology-N.pdf: the letter's own address
            options = {"apology": apology_number(number)}
        else:
            options = document_options(kind, request.query_params)
        try:
            pdf = render_dossier_document(dossier=dossier, kind=kind, **options)
        except DocumentNotApplicable as exc:
            if number is None:
                raise
            raise DocumentNotFound(str(exc.message)) from None
        filename = document_filename(dossier, kind)
        if options.get("apology"):
            filename = filename.removesuffix(".pdf") + f"-{options['apology']}.pdf"
        access_record_document(request=request, dossier=dossier, kind=kind,
                               number=options.get("apology"), api=True)
        return pdf_response(pdf, filename)

    def finalize_response(self, request, response, *args, **kwargs):
        # An error is data for the JSON renderer even when the client asked for a PDF.
        if isinstance(response, Response) and isinstance(
            getattr(request, "accepted_renderer", None), PDFRenderer
        ):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class DossierApologyDocumentView(DossierDocumentView):
    """``apology-N.pdf``: one apology letter by its number, the address the detail lists."""

    @extend_schema(
        operation_id="dossier_apology_document",
        summary="Văn bản xin lỗi số N của hồ sơ (Mẫu 04, PDF)",
        description=(
            "In lại một văn bản xin lỗi và hẹn lại ngày trả kết quả theo số thứ tự của nó trong "
            "hồ sơ (1, 2, …); danh sách ở trường apologies của chi tiết hồ sơ."
        ),
        parameters=[
            OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("number", OpenApiTypes.INT, OpenApiParameter.PATH),
        ],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            404: OpenApiResponse(description="not_found"),
        },
    )
    def get(self, request, code: str, number: str):
        return self.serve(request, code, "apology", number)
