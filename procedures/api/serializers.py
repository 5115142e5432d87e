"""Read-only representations of the catalogue for the REST API (`/api/v1/procedures/`)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from procedures.models import (
    Channel,
    FeeLine,
    Level,
    ProcedureVersion,
    ProcessStep,
    RequiredDocument,
    TimeLimit,
    TimeUnit,
    limit_in_hours,
)
from procedures.selectors import procedure_time_limit


class FieldRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class AgencyRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    short_name = serializers.CharField()


class TimeLimitValueSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=False)
    unit = serializers.ChoiceField(choices=TimeUnit.choices)
    unit_label = serializers.CharField()
    hours = serializers.DecimalField(
        max_digits=8, decimal_places=2, coerce_to_string=False,
        help_text="Thời hạn quy ra giờ làm việc (tổng thời gian các bước của quy trình nội bộ).",
    )


def time_limit_value(amount, unit) -> dict:
    return {"amount": amount, "unit": unit, "unit_label": str(TimeUnit(unit).label),
            "hours": limit_in_hours(amount, unit)}


class ProcedureListSerializer(serializers.ModelSerializer):
    """One procedure as listed: the current version's essentials."""

    code = serializers.CharField(source="procedure.code")
    national_code = serializers.CharField(source="procedure.national_code")
    is_active = serializers.BooleanField(source="procedure.is_active")
    version = serializers.IntegerField(source="number")
    field = FieldRefSerializer()
    level = serializers.ChoiceField(choices=Level.choices)
    level_label = serializers.CharField(source="get_level_display")
    agency = AgencyRefSerializer(allow_null=True)
    time_limit = serializers.SerializerMethodField()
    channels = serializers.ListField(child=serializers.ChoiceField(choices=Channel.choices))

    class Meta:
        model = ProcedureVersion
        fields = [
            "code", "national_code", "name", "field", "level", "level_label", "agency",
            "agency_text", "time_limit", "channels", "online_level", "is_inter_agency",
            "is_active", "version", "effective_from",
        ]
        read_only_fields = fields

    @extend_schema_field(TimeLimitValueSerializer)
    def get_time_limit(self, version: ProcedureVersion) -> dict:
        return time_limit_value(version.time_limit_amount, version.time_limit_unit)


class FeeSerializer(serializers.ModelSerializer):
    class Meta:
        model = FeeLine
        fields = ["name", "amount_vnd", "description"]
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer):
    has_template = serializers.SerializerMethodField()

    class Meta:
        model = RequiredDocument
        fields = ["position", "name", "originals", "copies", "is_mandatory", "template_name",
                  "has_template"]
        read_only_fields = fields

    def get_has_template(self, document: RequiredDocument) -> bool:
        return bool(document.template)


class StepSerializer(serializers.ModelSerializer):
    agency = AgencyRefSerializer(allow_null=True, help_text="Để trống: cơ quan tiếp nhận hồ sơ.")
    hours = serializers.DecimalField(max_digits=7, decimal_places=2, coerce_to_string=False)

    class Meta:
        model = ProcessStep
        fields = ["position", "name", "agency", "unit_code", "role", "hours"]
        read_only_fields = fields


class ChannelTimeLimitSerializer(serializers.ModelSerializer):
    amount = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=False)

    class Meta:
        model = TimeLimit
        fields = ["channel", "amount", "unit"]
        read_only_fields = fields


class ProcedureDetailSerializer(ProcedureListSerializer):
    """Everything the catalogue says about a procedure, as of its current version."""

    fees = FeeSerializer(many=True)
    documents = DocumentSerializer(many=True)
    steps = StepSerializer(many=True)
    time_limits = ChannelTimeLimitSerializer(
        many=True, help_text="Thời hạn riêng của từng cách thức nộp, khi khác thời hạn chung.",
    )
    time_limit_by_channel = serializers.SerializerMethodField()
    legal_basis = serializers.ListField(child=serializers.CharField(), source="legal_basis_lines")

    class Meta(ProcedureListSerializer.Meta):
        fields = [
            *ProcedureListSerializer.Meta.fields,
            "subjects", "time_limit_text", "time_limit_by_channel", "time_limits",
            "supplement_clock", "procedure_steps_text", "requirements", "result",
            "legal_basis", "source", "fees", "documents", "steps",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=TimeLimitValueSerializer()))
    def get_time_limit_by_channel(self, version: ProcedureVersion) -> dict:
        """The limit that applies to each accepted channel (its own, else the general one)."""
        return {
            channel: time_limit_value(*procedure_time_limit(version=version, channel=channel))
            for channel in version.channels
        }


class AppointmentSerializer(serializers.Serializer):
    due_at = serializers.DateTimeField(help_text="Ngày hẹn trả kết quả (Asia/Ho_Chi_Minh).")
    received_at = serializers.DateTimeField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    time_limit = TimeLimitValueSerializer()
    version = serializers.IntegerField()
