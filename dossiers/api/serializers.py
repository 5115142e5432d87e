"""Shapes of the dossier API. Input serializers only check the shape; the rules (ID numbers,
phones, procedures, states, permissions) live in the services, which answer in Vietnamese."""

from __future__ import annotations

import re

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dossiers.deadlines import dossier_apologies
from dossiers.models import (
    Apology,
    Attachment,
    Dossier,
    DossierDocument,
    DossierEvent,
    DossierStep,
    IdType,
    Outcome,
    State,
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


_SURROGATES = re.compile("[\ud800-\udfff]")
_APPLICANT_TEXTS = ("name", "id_number", "phone", "email", "address")
_DOCUMENT_INTS = {"required_document": None, "originals": (0, 100), "copies": (0, 100)}


def _plain_text(value) -> bool:
    """A str that DRF's CharField takes as it is (no NUL, no lone surrogate)."""
    return (
        type(value) is str and "\x00" not in value
        and (value.isascii() or _SURROGATES.search(value) is None)
    )


def reception_input(data) -> dict | None:
    """What :class:`DossierCreateSerializer` validates ``data`` to, for a body of the plain
    shape every desk client sends (a JSON object of strings; documents as integers and
    booleans), without building the serializer's fields on every reception (their deep copies
    cost a tenth of a reception, docs/dossier-lifecycle.md "Reception performance"). Anything
    else — a missing or mistyped field, a number as a string, a blank procedure, an unknown
    choice — gives None, and the serializer itself decides (with its error messages). A test
    holds the two equal on every body this accepts."""
    if type(data) is not dict:
        return None
    procedure, applicant = data.get("procedure"), data.get("applicant")
    channel = data.get("channel", Channel.IN_PERSON.value)
    if not _plain_text(procedure) or not procedure.strip() or type(applicant) is not dict:
        return None
    if type(channel) is not str or channel not in Channel.values:
        return None
    out = {"procedure": procedure.strip(), "channel": channel}
    if "agency" in data:
        if not _plain_text(data["agency"]):
            return None
        out["agency"] = data["agency"].strip()
    person = {}
    for key in _APPLICANT_TEXTS:
        if key in applicant:
            if not _plain_text(applicant[key]):
                return None
            person[key] = applicant[key]
        elif key in ("name", "id_number", "phone"):
            return None
    if "id_type" in applicant:
        if type(applicant["id_type"]) is not str or applicant["id_type"] not in IdType.values:
            return None
        person["id_type"] = applicant["id_type"]
    out["applicant"] = person
    if "documents" in data:
        documents = data["documents"]
        if type(documents) is not list:
            return None
        out["documents"] = []
        for item in documents:
            if type(item) is not dict:
                return None
            row = {}
            for key, bounds in _DOCUMENT_INTS.items():
                if key in item:
                    value = item[key]
                    if type(value) is not int or (bounds and not bounds[0] <= value <= bounds[1]):
                        return None
                    if bounds is None and abs(value) > 2**31:
                        return None
                    row[key] = value
            if "name" in item:
                if not _plain_text(item["name"]):
                    return None
                row["name"] = item["name"]
            received = item.get("received", True)
            if type(received) is not bool:
                return None
            row["received"] = received
            out["documents"].append(row)
    return out


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


_MOMENT = serializers.DateTimeField(read_only=True)


def _moment(value) -> str | None:
    return None if value is None else _MOMENT.to_representation(value)


def receipt_data(dossier: Dossier) -> dict:
    """:class:`DossierReceiptSerializer`'s data, written out: the reception answers with it on
    every ``POST /api/v1/dossiers/``, where building a ModelSerializer's fields cost as much
    as the reception's own statements (docs/dossier-lifecycle.md, "Reception performance").
    The serializer stays the schema; a test keeps the two equal."""
    version = dossier.procedure_version
    unit = dossier.current_unit if dossier.current_unit_id else None
    handler = dossier.current_handler if dossier.current_handler_id else None
    return {
        "code": dossier.code,
        "provisional_code": dossier.provisional_code,
        "state": dossier.state,
        "state_label": str(State(dossier.state).label),
        "national_status": dossier.national_status,
        "channel": dossier.channel,
        "procedure": version.procedure.code,
        "procedure_name": version.name,
        "agency": dossier.agency.code,
        "agency_name": dossier.agency.name,
        "applicant_name": dossier.applicant_name,
        "submitted_at": _moment(dossier.submitted_at),
        "received_at": _moment(dossier.received_at),
        "due_at": _moment(dossier.due_at),
        "is_overdue": dossier.is_overdue,
        "is_due_soon": dossier.is_due_soon,
        "current_unit": unit.code if unit else None,
        "current_unit_name": unit.name if unit else None,
        "current_role": dossier.current_role,
        "current_handler": (
            {"username": handler.get_username(), "name": person_name(handler)} if handler else None
        ),
        "version": dossier.version,
        "created_at": _moment(dossier.created_at),
        "applicant": {
            "name": dossier.applicant_name,
            "id_type": dossier.applicant_id_type,
            "id_number": dossier.applicant_id_number,
            "phone": dossier.applicant_phone,
            "email": dossier.applicant_email,
            "address": dossier.applicant_address,
        },
        "clock_started_at": _moment(dossier.clock_started_at),
        "original_due_at": _moment(dossier.original_due_at),
    }


class DossierApologySerializer(serializers.ModelSerializer):
    """One apology and extension letter (Mẫu 04): which appointment it was for, the new one,
    who answers for the delay, and where to print exactly this letter."""

    # A plain string, like the list's current_role: the enum is named once, on its model.
    kind = serializers.CharField(help_text="auto (hệ thống tự động lập) / manual (lãnh đạo lập).")
    issued_by = PersonField(allow_null=True, help_text="Trống: hệ thống tự động lập.")
    at_fault_step = serializers.SerializerMethodField()
    at_fault_unit = serializers.SerializerMethodField()
    at_fault_officer = PersonField(allow_null=True)
    already_late = serializers.BooleanField(
        help_text="Lập sau khi đã trễ hẹn (false: dự báo trễ hạn, lập trước ngày hẹn)."
    )
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Apology
        fields = [
            "number", "kind", "issued_at", "issued_by", "for_due_at", "new_due_at", "state",
            "already_late", "at_fault_step", "at_fault_unit", "at_fault_officer", "reason",
            "pdf_url",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "nullable": True, "properties": {
        "position": {"type": "integer"}, "name": {"type": "string"}}})
    def get_at_fault_step(self, letter):
        step = letter.at_fault_step
        return None if step is None else {"position": step.position, "name": step.name}

    @extend_schema_field({"type": "object", "nullable": True, "properties": {
        "code": {"type": "string"}, "name": {"type": "string"}}})
    def get_at_fault_unit(self, letter):
        unit = letter.at_fault_unit
        return None if unit is None else {"code": unit.code, "name": unit.name}

    @extend_schema_field(serializers.URLField())
    def get_pdf_url(self, letter) -> str:
        url = reverse("api-dossier-apology", args=[self.context["dossier_code"], letter.number])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


class DossierDetailSerializer(DossierListSerializer):
    applicant = DossierApplicantSerializer(source="*")
    timeliness = serializers.CharField(allow_null=True)
    # "" until decided: the model field's blank choice, which the schema must admit too.
    outcome = serializers.ChoiceField(choices=Outcome.choices, allow_blank=True, read_only=True)
    steps = DossierStepSerializer(many=True)
    documents = DossierDocumentSerializer(many=True)
    attachments = DossierAttachmentSerializer(many=True)
    events = DossierEventSerializer(many=True)
    apologies = serializers.SerializerMethodField()
    available_transitions = serializers.SerializerMethodField()

    class Meta(DossierListSerializer.Meta):
        fields = [
            *DossierListSerializer.Meta.fields,
            "applicant", "clock_started_at", "original_due_at", "outcome", "result_text",
            "result_ready_at", "returned_at", "closed_at", "paused_at", "paused_hours",
            "supplement_requests", "timeliness", "steps", "documents", "attachments", "events",
            "apologies", "available_transitions",
        ]
        read_only_fields = fields

    @extend_schema_field(DossierApologySerializer(many=True))
    def get_apologies(self, dossier) -> list[dict]:
        """Every letter, first to last (never deleted: the full history), one query."""
        context = {**self.context, "dossier_code": dossier.code}
        return DossierApologySerializer(
            dossier_apologies(dossier=dossier), many=True, context=context
        ).data

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_available_transitions(self, dossier) -> list[str]:
        return self.context.get("available_transitions", [])

