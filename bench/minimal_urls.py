"""The baseline of bench/reception.py: the smallest DRF endpoint that does what every write
does — authenticate the token, validate a body of the same shape, insert one row — served by
the same gunicorn as the real API (``bench.minimal_settings``), next to every project URL."""

from django.db import models
from django.urls import include, path
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView


class MinimalRow(models.Model):
    """One row per request, in a table bench/reception.py creates (not a project model)."""

    at = models.DateTimeField(auto_now_add=True)
    procedure = models.CharField(max_length=64)
    applicant_name = models.CharField(max_length=255)

    class Meta:
        app_label = "bench_minimal"
        managed = False
        db_table = "bench_minimal_row"

    def __str__(self) -> str:
        return f"{self.pk} {self.procedure}"


class MinimalApplicant(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    id_number = serializers.CharField(max_length=20)
    phone = serializers.CharField(max_length=15)


class MinimalInput(serializers.Serializer):
    procedure = serializers.CharField(max_length=64)
    channel = serializers.CharField(max_length=16)
    agency = serializers.CharField(required=False, allow_blank=True)
    applicant = MinimalApplicant()


class MinimalCreate(APIView):
    """POST → 201 ``{"id": …}`` (the project's default authentication and permission)."""

    def post(self, request):
        data = MinimalInput(data=request.data)
        data.is_valid(raise_exception=True)
        row = MinimalRow.objects.create(
            procedure=data.validated_data["procedure"],
            applicant_name=data.validated_data["applicant"]["name"],
        )
        return Response({"id": row.pk}, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("bench/minimal/", MinimalCreate.as_view()),
    path("", include("motcua.urls")),
]
