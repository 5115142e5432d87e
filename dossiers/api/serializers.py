"""Shapes of the dossier API. Input serializers only check the shape; the rules (ID numbers,
phones, procedures, states, permissions) live in the services, which answer in Vietnamese."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dossiers.models import (
    Attachment,
    Dossier,
    DossierDocument,
    DossierEvent,
    DossierStep,
    IdType,
    Transition,
)
from motcua.text import person_name
from procedures.models import Channel


class ErrorSerializer(serializers.Serializer):
    """Every error of the API: a stable code, a message for people, field errors if any."""

    code = serializers.CharField()
    detail = serializers.CharField()
    errors = serializers.DictField(required=False)


# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------


def _text(**kwargs):
    return serializers.CharField(allow_blank=True, trim_whitespace=False, **kwargs)


class DossierApplicantInputSerializer(serializers.Serializer):
    name = _text(help_text="Họ và tên người nộp hồ sơ.")
    id_type = serializers.ChoiceField(choices=IdType.choices, required=False)
    id_number = _text(help_text="Số định danh cá nhân 12 chữ số (hoặc số hộ chiếu).")
    phone = _text(help_text="Số điện thoại di động (0xxxxxxxxx hoặc +84…).")
    email = _text(required=False)
    address = _text(required=False)


class DossierDocumentInputSerializer(serializers.Serializer):
    required_document = serializers.IntegerField(required=False)
    name = _text(required=False)
    received = serializers.BooleanField(required=False, default=True)
    originals = serializers.IntegerField(required=False, min_value=0, max_value=100)
    copies = serializers.IntegerField(required=False, min_value=0, max_value=100)


class DossierCreateSerializer(serializers.Serializer):
    procedure = serializers.CharField(help_text="Mã thủ tục trong danh mục của tỉnh.")
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.IN_PERSON)
    agency = serializers.CharField(
        required=False, allow_blank=True,
        help_text="Mã định danh cơ quan tiếp nhận; cần với thủ tục cấp xã.",
    )
    applicant = DossierApplicantInputSerializer()
    documents = DossierDocumentInputSerializer(
        many=True, required=False,
        help_text="Giấy tờ đã nhận; bỏ trống = đủ mọi giấy tờ bắt buộc.",
    )


class DossierTransitionInputSerializer(serializers.Serializer):
    transition = serializers.ChoiceField(choices=Transition.choices)
    comment = _text(required=False)
    expected_version = serializers.IntegerField(
        required=False, allow_null=True, min_value=1,
        help_text="Phiên bản hồ sơ người dùng đang xem; khác thì trả 409.",
    )
    reasons = serializers.ListField(child=_text(), required=False)
    missing_documents = serializers.ListField(child=_text(), required=False)
    documents = serializers.ListField(child=serializers.JSONField(), required=False)
    result_text = _text(required=False)
    reason = _text(required=False)
    legal_basis = _text(required=False)


class DossierAttachmentInputSerializer(serializers.Serializer):
    file = serializers.FileField(use_url=False)
    kind = serializers.ChoiceField(choices=Attachment.Kind.choices)


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


@extend_schema_field({"type": "object", "nullable": True, "properties": {
    "username": {"type": "string"}, "name": {"type": "string"}}})
class PersonField(serializers.Field):
    """A member of staff as ``{username, name}``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, user):
        return {"username": user.get_username(), "name": person_name(user)}


class DossierListSerializer(serializers.ModelSerializer):
    state_label = serializers.CharField(source="get_state_display")
    national_status = serializers.IntegerField()
    procedure = serializers.CharField(source="procedure_version.procedure.code")
    procedure_name = serializers.CharField(source="procedure_version.name")
    agency = serializers.CharField(source="agency.code")
    agency_name = serializers.CharField(source="agency.name")
    current_unit = serializers.CharField(source="current_unit.code", allow_null=True, default=None)
    current_unit_name = serializers.CharField(
        source="current_unit.name", allow_null=True, default=None
    )
    # Plain strings here: the enums are named once, on the fields that take them as input.
    current_role = serializers.CharField(help_text="clerk / officer / leader; trống khi kết thúc.")
    current_handler = PersonField(allow_null=True)

    class Meta:
        model = Dossier
        fields = [
            "code", "provisional_code", "state", "state_label", "national_status", "channel",
            "procedure", "procedure_name", "agency", "agency_name", "applicant_name",
            "submitted_at", "received_at", "due_at", "is_overdue", "is_due_soon",
            "current_unit", "current_unit_name", "current_role", "current_handler", "version",
            "created_at",
        ]
        read_only_fields = fields


class DossierStepSerializer(serializers.ModelSerializer):
    agency = serializers.CharField(source="agency.code")
    unit = serializers.CharField(source="unit.code")
    unit_name = serializers.CharField(source="unit.name")
    handler = PersonField(allow_null=True)

    class Meta:
        model = DossierStep
        fields = [
            "id", "position", "attempt", "name", "agency", "unit", "unit_name", "role", "hours",
            "started_at", "due_at", "finished_at", "handler", "on_time",
        ]
        read_only_fields = fields


class DossierDocumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = DossierDocument
        fields = ["id", "required_document", "position", "name", "originals", "copies", "received"]
        read_only_fields = fields


class DossierAttachmentSerializer(serializers.ModelSerializer):
    uploaded_by = PersonField(allow_null=True)

    class Meta:
        model = Attachment
        fields = [
            "id", "kind", "original_name", "content_type", "size", "sha256", "uploaded_by",
            "uploaded_at",
        ]
        read_only_fields = fields


class DossierEventSerializer(serializers.ModelSerializer):
    actor = PersonField(allow_null=True)
    transition_label = serializers.CharField()
    step = serializers.SerializerMethodField()

    class Meta:
        model = DossierEvent
        fields = [
            "id", "at", "actor", "transition", "transition_label", "from_state", "to_state",
            "step", "comment", "on_time", "data",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "nullable": True, "properties": {
        "position": {"type": "integer"}, "name": {"type": "string"},
        "unit": {"type": "string"}, "agency": {"type": "string"}}})
    def get_step(self, event):
        step = event.step
        if step is None:
            return None
        return {
            "position": step.position, "name": step.name, "unit": step.unit.code,
            "agency": step.agency.code,
        }


class DossierApplicantSerializer(serializers.Serializer):
    name = serializers.CharField(source="applicant_name")
    id_type = serializers.CharField(source="applicant_id_type")
    id_number = serializers.CharField(source="applicant_id_number")
    phone = serializers.CharField(source="applicant_phone")
    email = serializers.CharField(source="applicant_email")
    address = serializers.CharField(source="applicant_address")


class DossierReceiptSerializer(DossierListSerializer):
    """What a reception answers: the dossier as listed, the applicant and the clock (the
    receipt's data). The steps and the log are one GET away."""

    applicant = DossierApplicantSerializer(source="*")

    class Meta(DossierListSerializer.Meta):
        fields = [*DossierListSerializer.Meta.fields, "applicant", "clock_started_at", "original_due_at"]
        read_only_fields = fields


class DossierDetailSerializer(DossierListSerializer):
    applicant = DossierApplicantSerializer(source="*")
    timeliness = serializers.CharField(allow_null=True)
    steps = DossierStepSerializer(many=True)
    documents = DossierDocumentSerializer(many=True)
    attachments = DossierAttachmentSerializer(many=True)
    events = DossierEventSerializer(many=True)
    available_transitions = serializers.SerializerMethodField()

    class Meta(DossierListSerializer.Meta):
        fields = [
            *DossierListSerializer.Meta.fields,
            "applicant", "clock_started_at", "original_due_at", "outcome", "result_text",
            "result_ready_at", "returned_at", "closed_at", "paused_at", "paused_hours",
            "supplement_requests", "timeliness", "steps", "documents", "attachments", "events",
            "available_transitions",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_available_transitions(self, dossier) -> list[str]:
        return self.context.get("available_transitions", [])

