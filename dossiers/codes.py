"""Dossier codes: ``<agency identifier code>-<yymmdd>-<seq:04d>`` (DOMAIN.md), e.g.
``000.00.00.H30-251123-0007``, gapless and unique per agency and day.

The number comes from one row per (agency, day) in ``DossierCounter``, incremented with an
upsert *inside the reception transaction*: concurrent receptions of one agency queue on that
row's lock, and a reception that rolls back gives its number back. Only receptions take numbers;
online submissions get a random provisional code, so refused submissions leave no gaps.
"""

from __future__ import annotations

import functools
import secrets
from datetime import date, datetime

from django.db import connection, transaction
from django.utils import timezone

from dossiers.models import Dossier, DossierCounter
from motcua.db import execute_prepared
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


def next_code_and_id(*, agency: Agency, received_at: datetime, steps: int = 0
                     ) -> tuple[str, int | None, list[int], int | None]:
    """:func:`next_code`, and on PostgreSQL the ids the new dossier, its ``steps`` steps and
    its reception event will have, reserved from their sequences by the same statement
    (``None`` and ``[]`` elsewhere: the ids come with the inserts). With every id known, the
    reception sends all its rows together, in one round trip, the dossier written once with
    its current step (``dossiers.services.reception``). Ids may have gaps (a rolled-back
    reception); codes may not, and the counter still gives them."""
    if connection.vendor != "postgresql":
        return next_code(agency=agency, received_at=received_at), None, [], None
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_code_and_id() must run inside the reception transaction.")
    day = local_day(received_at)
    with connection.cursor() as cursor:
        # Prepared once per session, like the reception's look-ups (motcua.db).
        execute_prepared(cursor, "motcua_reserve_ids", _reserve_sql(), [agency.pk, day, steps],
                         types="bigint, date, integer")
        number, dossier_id, step_ids, event_id = cursor.fetchone()
    return format_code(agency.code, day, int(number)), int(dossier_id), list(step_ids), int(event_id)


@functools.cache
def _reserve_sql() -> str:
    from dossiers.models import DossierEvent, DossierStep

    quote = connection.ops.quote_name
    table, last = quote(DossierCounter._meta.db_table), quote("last")

    def seq(model) -> str:
        return f"nextval(pg_get_serial_sequence('{model._meta.db_table}', 'id'))"

    return (
        f"INSERT INTO {table} (agency_id, day, {last}) VALUES ($1, $2, 1) "
        f"ON CONFLICT (agency_id, day) DO UPDATE SET {last} = {table}.{last} + 1 "
        f"RETURNING {last}, {seq(Dossier)}, "
        f"ARRAY(SELECT {seq(DossierStep)} FROM generate_series(1, $3)), {seq(DossierEvent)}"
    )


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
