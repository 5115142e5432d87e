"""Dossier codes: ``<agency identifier code>-<yymmdd>-<seq:04d>`` (DOMAIN.md), e.g.
``000.00.00.H30-251123-0007``, gapless and unique per agency and day.

The number comes from one row per (agency, day) in ``DossierCounter``, incremented with an
upsert *inside the reception transaction*: concurrent receptions of one agency queue on that
row's lock, and a reception that rolls back gives its number back. Only receptions take numbers;
online submissions get a random provisional code, so refused submissions leave no gaps.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime

from django.db import connection, transaction
from django.utils import timezone

from dossiers.models import Dossier, DossierCounter
from motcua.models import Agency

_PROVISIONAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def format_code(agency_code: str, day: date, number: int) -> str:
    return f"{agency_code}-{day:%y%m%d}-{number:04d}"


def next_number(*, agency: Agency, day: date) -> int:
    """The next sequence number of ``agency`` on ``day``. Must run inside the transaction that
    stores the dossier (it holds the counter row's lock until that transaction ends)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_number() must run inside the reception transaction.")
    table = connection.ops.quote_name(DossierCounter._meta.db_table)
    last = connection.ops.quote_name("last")
    # Same statement on PostgreSQL and SQLite (3.35+): one round trip, row-locked upsert.
    sql = (
        f"INSERT INTO {table} (agency_id, day, {last}) VALUES (%s, %s, 1) "
        f"ON CONFLICT (agency_id, day) DO UPDATE SET {last} = {table}.{last} + 1 "
        f"RETURNING {last}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [agency.pk, day])
        return int(cursor.fetchone()[0])


def next_code_and_id(*, agency: Agency, received_at: datetime) -> tuple[str, int | None]:
    """:func:`next_code`, and on PostgreSQL the id the new dossier will have, reserved from its
    sequence by the same statement (``None`` elsewhere: the id comes with the insert). With
    the id known, the reception writes the dossier once, its current step included, instead of
    inserting it and updating it (``dossiers.services.reception``). Ids may have gaps (a
    rolled-back reception); codes may not, and the counter still gives them."""
    if connection.vendor != "postgresql":
        return next_code(agency=agency, received_at=received_at), None
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_code_and_id() must run inside the reception transaction.")
    day = local_day(received_at)
    table = connection.ops.quote_name(DossierCounter._meta.db_table)
    last = connection.ops.quote_name("last")
    sql = (
        f"INSERT INTO {table} (agency_id, day, {last}) VALUES (%s, %s, 1) "
        f"ON CONFLICT (agency_id, day) DO UPDATE SET {last} = {table}.{last} + 1 "
        f"RETURNING {last}, nextval(pg_get_serial_sequence(%s, 'id'))"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [agency.pk, day, Dossier._meta.db_table])
        number, dossier_id = cursor.fetchone()
    return format_code(agency.code, day, int(number)), int(dossier_id)


def next_code(*, agency: Agency, received_at: datetime) -> str:
    """The official code of a dossier received by ``agency`` at ``received_at`` (the date in
    Asia/Ho_Chi_Minh)."""
    day = local_day(received_at)
    return format_code(agency.code, day, next_number(agency=agency, day=day))


def provisional_code(*, submitted_at: datetime) -> str:
    """A code for an online submission until the desk receives it: ``TT-<yymmdd>-<8 chars>``,
    random (nothing to guess from it, no number taken from the official sequence)."""
    suffix = "".join(secrets.choice(_PROVISIONAL_ALPHABET) for _ in range(8))
    return f"TT-{local_day(submitted_at):%y%m%d}-{suffix}"
