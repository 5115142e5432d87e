"""API plumbing shared by every app: the one mapping of domain errors to HTTP answers."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from motcua.errors import DomainError


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        body = {"code": exc.code, "detail": str(exc.message)}
        if exc.errors:
            body["errors"] = exc.errors
        return Response(body, status=exc.status)
    return drf_exception_handler(exc, context)
