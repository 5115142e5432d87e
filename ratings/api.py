"""``POST /api/public/ratings/`` (CONTRACT.md): public, no login, throttled (scope
``public_rating``). The body is read as it comes and handed to ``ratings.services.rating_submit``,
which alone decides what is refused (400 with a stable ``code``, 404 ``not_found`` for a wrong
code or phone — the same answer for both)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from dossiers.api.serializers import ErrorSerializer
from dossiers.public.proof import client_ip
from motcua.errors import ValidationError
from ratings.models import Level, Rating, Source
from ratings.services import rating_submit
from ratings.throttle import RatingThrottle, RatingThrottled

#: A level of the scale, described inline: as an ``enum``, drf-spectacular would name one
#: enum per criterion and warn (the schema check fails on warnings).
LEVEL_SCHEMA = {
    "type": "string", "pattern": f"^({'|'.join(Level.values)})$",
    "description": "very_satisfied = Rất hài lòng, satisfied = Hài lòng, "
                   "dissatisfied = Không hài lòng",
}


@extend_schema_field(LEVEL_SCHEMA)
class LevelField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=Level.choices, **kwargs)


class RatingAnswersSerializer(serializers.Serializer):
    """``{criterion: level}``; only ``overall`` is required."""

    overall = LevelField(help_text="Mức độ hài lòng chung")
    time = LevelField(required=False, help_text="Thời gian giải quyết")
    attitude = LevelField(required=False, help_text="Thái độ của cán bộ")
    guidance = LevelField(required=False, help_text="Hướng dẫn rõ ràng, dễ hiểu")
    publicity = LevelField(required=False, help_text="Công khai thủ tục hành chính")


class RatingRequestSerializer(serializers.Serializer):
    """The request, for the documentation: the service checks it."""

    code = serializers.CharField(help_text="Mã hồ sơ, ví dụ 000.00.00.H30-251123-0007")
    phone = serializers.CharField(help_text="Số điện thoại di động đã đăng ký khi nộp hồ sơ")
    answers = RatingAnswersSerializer()
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class RatingSerializer(serializers.ModelSerializer):
    """The rating as stored: the dossier's code, the answers given, the comment; never the
    phone or anything else personal."""

    code = serializers.CharField(source="dossier.code")
    answers = serializers.SerializerMethodField()

    class Meta:
        model = Rating
        fields = ["code", "answers", "comment", "source", "created_at"]

    @extend_schema_field(RatingAnswersSerializer)
    def get_answers(self, rating: Rating) -> dict[str, str]:
        return rating.answers()


class RatingCreateAPI(APIView):
    """Rate a returned dossier, once, with its code and the applicant's phone."""

    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: no session, so no CSRF either
    throttle_classes = [RatingThrottle]  # scope "public_rating", shared with the pages

    def throttled(self, request, wait):
        raise RatingThrottled(wait)

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, RatingThrottled):
            response["Retry-After"] = str(exc.wait)
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        operation_id="public_rating_create",
        tags=["public"],
        request=RatingRequestSerializer,
        responses={
            201: RatingSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="invalid_request, invalid_answers, invalid_comment, "
                            "comment_too_long, not_returned, already_rated",
            ),
            404: OpenApiResponse(ErrorSerializer, description="not_found (mã hoặc số điện thoại)"),
            429: OpenApiResponse(ErrorSerializer, description="throttled (kèm Retry-After)"),
        },
        examples=[OpenApiExample("Đánh giá", request_only=True, value={
            "code": "000.00.00.H30-251123-0007", "phone": "0912345678",
            "answers": {"overall": "very_satisfied", "attitude": "satisfied"},
            "comment": "Cán bộ hướng dẫn tận tình.",
        })],
    )
    def post(self, request):
        data = request.data
        if not isinstance(data, dict):
            raise ValidationError(_("Nội dung yêu cầu phải là một đối tượng JSON."),
                                  code="invalid_request")
        wrong = [
            name for name in ("code", "phone")
            if not isinstance(data.get(name), str) or not data.get(name).strip()
        ]
        if wrong:
            raise ValidationError(
                _("Vui lòng nhập mã hồ sơ và số điện thoại."), code="invalid_request",
                errors={name: [_("Trường này là bắt buộc.")] for name in wrong},
            )
        rating = rating_submit(
            code=data["code"], phone=data["phone"], answers=data.get("answers"),
            comment=data.get("comment", ""), source=Source.API, ip=client_ip(request),
        )
        return Response(RatingSerializer(rating).data, status=status.HTTP_201_CREATED)

