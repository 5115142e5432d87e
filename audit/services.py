"""Writes to the staff access log: one row per reading, and the retention prune.

``access_record`` sits on hot paths (every dossier page, every file): it is one INSERT — the
ids come from objects the view already holds, nothing is looked up — and views call it after
their own queries, just before answering, so that a page that fails records nothing and a page
shown is always recorded (an INSERT that fails fails the response: no reading unrecorded).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AccessKind, AccessRecord
from motcua.errors import ValidationError


def _client_ip(request) -> str | None:
    from dossiers.public.proof import client_ip

    address = client_ip(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None  # the test client's "testserver", a malformed header


def access_record(*, request, kind: str, dossier=None, count: int | None = None,
                  data: dict | None = None) -> AccessRecord:
    """Record that ``request.user`` read ``dossier`` (or, for an export, ``count`` dossiers
    selected by the filters in ``data``) in the way ``kind`` says. One INSERT."""
    if kind not in AccessKind.values:
        raise ValueError(f"Unknown access kind {kind!r}")
    record = AccessRecord(
        at=timezone.now(),
        user_id=request.user.pk,
        kind=kind,
        dossier_id=getattr(dossier, "pk", None),
        dossier_code=getattr(dossier, "code", "") or "",
        count=count,
        data=data or {},
        ip=_client_ip(request),
        request_id=str(getattr(request, "request_id", None) or "")[:64],
    )
    record.save()
    return record


def access_record_document(*, request, dossier, kind: str, number: int | None = None,
                           api: bool = False) -> AccessRecord:
    """Record an official form (PDF) of ``dossier`` printed or downloaded: ``kind`` is the
    form (``receipt``…), ``number`` the apology letter's, ``api`` whether through the API."""
    data: dict = {"document": kind}
    if number:
        data["number"] = int(number)
    if api:
        data["api"] = True
    return access_record(request=request, kind=AccessKind.DOCUMENT, dossier=dossier, data=data)


def access_retention_cutoff(now: datetime | None = None) -> datetime:
    """Rows older than this may be pruned (``AUDIT_ACCESS_RETENTION_DAYS``)."""
    return (now or timezone.now()) - timedelta(days=settings.AUDIT_ACCESS_RETENTION_DAYS)


def access_log_prune(*, before: datetime, batch_size: int = 10_000) -> int:
    """Delete access records older than ``before``; the number deleted.

    The only deleter of the access log (``manage.py prune_access_log``). It refuses a ``before``
    later than the retention cutoff: what is younger than the retention period stays. On
    PostgreSQL the trigger lets the DELETE through only inside this transaction
    (``SET LOCAL motcua.audit_prune``), batch by batch so that no lock is held for long.
    """
    cutoff = access_retention_cutoff()
    if before > cutoff:
        raise ValidationError(
            _("Chỉ được xóa nhật ký cũ hơn %(days)d ngày (trước %(cutoff)s).") % {
                "days": settings.AUDIT_ACCESS_RETENTION_DAYS,
                "cutoff": f"{timezone.localtime(cutoff):%d/%m/%Y %H:%M}",
            },
            code="retention", errors={"before": ["retention"]},
        )
    table = AccessRecord._meta.db_table
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL motcua.audit_prune = 'on'")
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN "  # noqa: S608 - our own table name
                f"(SELECT id FROM {table} WHERE at < %s ORDER BY at LIMIT %s)",
                [before, batch_size],
            )
            deleted = cursor.rowcount
        total += deleted
        if deleted < batch_size:
            return total
