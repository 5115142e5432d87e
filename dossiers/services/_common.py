"""Pieces every dossier service uses: the internal-process plan, the time limit, the event row
and the hand-off to Celery."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.utils.translation import gettext as _

from dossiers.models import Dossier, DossierEvent, DossierStep
from motcua import calendar
from motcua.db import execute_prepared
from motcua.errors import ValidationError
from motcua.models import Role
from motcua.outbox.publication import Coalescer
from procedures.models import Channel, ProcedureVersion

if TYPE_CHECKING:
    from procedures.selectors import VersionPlan


# ---------------------------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------------------------


def time_limit(
    version: ProcedureVersion, channel: str, plan: VersionPlan | None = None
) -> tuple[Decimal, str]:
    """(amount, unit) of the version's time limit for ``channel``: the channel's own limit
    where the catalogue has one, else the version's. ``plan``: the version's cached parts
    (``procedure_version_plan``), which saves reading its limits."""
    from procedures.selectors import procedure_time_limit

    if plan is not None:
        amount, unit = plan.time_limit(version, channel)
    else:
        amount, unit = procedure_time_limit(version=version, channel=channel)
    return Decimal(amount), unit


def appointment(
    *, version: ProcedureVersion, channel: str, received_at: datetime,
    plan: VersionPlan | None = None,
) -> tuple[datetime, datetime]:
    """(clock start, appointment) for a dossier received at ``received_at``: the clock starts at
    the next opening when received outside office hours (DOMAIN.md "Time")."""
    amount, unit = time_limit(version, channel, plan)
    return calendar.next_opening(received_at), calendar.deadline(received_at, amount, unit)


# ---------------------------------------------------------------------------------------------
# Statements built once (the reception's hot path, docs/dossier-lifecycle.md "Reception
# performance"): compiling a queryset costs ~5x the round trip it makes, for statements whose
# shape never changes. The SQL is generated from the models' fields, not written by hand.
# ---------------------------------------------------------------------------------------------


def fast_sql() -> bool:
    """Whether the prepared statements below are used (PostgreSQL; elsewhere the ORM)."""
    return connection.vendor == "postgresql"


@functools.lru_cache(maxsize=64)
def _insert_sql(model: type[models.Model], attnames: tuple[str, ...], rows: int,
                ignore_conflicts: bool, returning: bool) -> str:
    meta = model._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in attnames)
    one = "(" + ", ".join(["%s"] * len(attnames)) + ")"
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES " + ", ".join([one] * rows)
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {quote(meta.pk.column)}"
    return sql


_PLAIN = frozenset({str, int, bool, type(None), Decimal})


def insert_rows(objs: list[models.Model], *, ignore_conflicts: bool = False,
                want_ids: bool = True) -> None:
    """Insert unsaved instances of one model in one statement, as ``bulk_create`` does (no
    ``save()``, no signals), setting their primary keys unless ``ignore_conflicts`` or not
    ``want_ids`` (then the statement can wait in a :func:`batched_inserts` block).
    Values go through each field's ``pre_save`` and ``get_db_prep_save`` like the ORM's."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    pk_given = getattr(objs[0], meta.pk.attname) is not None
    fields, plain_read = _insert_fields(model, pk_given)
    wrapper = connections[DEFAULT_DB_ALIAS]  # not the proxy: one lookup, not one per value
    params: list = []
    for obj in objs:
        values = obj.__dict__
        for f, plain in zip(fields, plain_read, strict=True):
            # A field whose pre_save only reads the attribute is read directly.
            value = values[f.attname] if plain and f.attname in values else f.pre_save(obj, True)
            # A value already of a type the driver takes as it is (what the fields' own
            # conversion would return unchanged) is passed straight; anything else, JSON
            # included, through the field.
            if type(value) in _PLAIN and plain is not None:
                params.append(value)
            else:
                params.append(f.get_db_prep_save(value, connection=wrapper))
    returning = not pk_given and not ignore_conflicts and want_ids
    sql = _insert_sql(model, tuple(f.attname for f in fields), len(objs), ignore_conflicts,
                      returning)
    batch = _batch.get()
    if batch is not None and not returning:
        batch.append((sql, params))  # sent with the others when the batch ends
        ids = None
    else:
        with wrapper.cursor() as cursor:
            cursor.execute(sql, params)
            ids = [row[0] for row in cursor.fetchall()] if returning else None
    for i, obj in enumerate(objs):
        if ids is not None:
            setattr(obj, meta.pk.attname, ids[i])
        obj._state.adding = False
        obj._state.db = connection.alias


@functools.lru_cache(maxsize=64)
def _insert_fields(model: type[models.Model], pk_given: bool) -> tuple[tuple, tuple]:
    """The fields an insert writes, and for each: True when its ``pre_save`` only reads the
    attribute (the usual case), False when it may compute the value (``auto_now``, a field
    with its own ``pre_save``), None for a JSON field (always converted by the field)."""
    fields = tuple(f for f in model._meta.concrete_fields if pk_given or f is not model._meta.pk)
    plain: list[bool | None] = []
    for f in fields:
        if f.get_internal_type() == "JSONField":
            plain.append(None)
        else:
            reads_only = type(f).pre_save is models.Field.pre_save
            plain.append(reads_only)
    return fields, tuple(plain)


_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar("insert_batch", default=None)


@contextlib.contextmanager
def batched_inserts():
    """Inside this block (in a transaction), :func:`insert_rows` calls that need nothing back
    (primary keys given, or not wanted) are held and sent together, in one round trip, when the
    block ends: one prepared statement (:func:`_batch_statement`) instead of one per table.
    Nothing inside the block may read those rows back before it ends. A block left by an exception
    sends nothing (the transaction is rolled back anyway)."""
    if not fast_sql():
        yield
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("batched_inserts() must run inside a transaction.")
    batch: list[tuple[str, list]] = []
    token = _batch.set(batch)
    try:
        yield
    finally:
        _batch.reset(token)
    if batch:
        sql = _batch_statement(tuple(sql for sql, _params in batch))
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            execute_prepared(cursor, _batch_name(sql), sql,
                             [value for _sql, params in batch for value in params])


@functools.lru_cache(maxsize=256)
def _batch_statement(statements: tuple[str, ...]) -> str:
    """The inserts of a batch as one statement (``WITH w0 AS (INSERT …), … INSERT …``), so
    that it can be prepared: PostgreSQL then parses and plans it once per session and shape
    (rows per table), not on every reception. The inserts run on one snapshot, in no set
    order; nothing in a batch reads another's rows, and the foreign keys between them are
    checked at commit (Django's are ``DEFERRABLE INITIALLY DEFERRED``)."""
    *first, last = statements
    if not first:
        return last
    return "WITH " + ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(first)) + " " + last


@functools.lru_cache(maxsize=256)
def _batch_name(sql: str) -> str:
    return "motcua_batch_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()


@functools.lru_cache(maxsize=32)
def select_columns(model: type[models.Model], alias: str, skip: tuple[str, ...] = ()
                   ) -> tuple[tuple[str, ...], str]:
    """(attnames, ``alias."col", …``) of the model's concrete fields but ``skip``: the select
    list of a hand-joined statement, read back with :func:`from_row`."""
    fields = [f for f in model._meta.concrete_fields if f.attname not in skip]
    quote = connection.ops.quote_name
    return (
        tuple(f.attname for f in fields),
        ", ".join(f"{alias}.{quote(f.column)}" for f in fields),
    )


def from_row(model: type[models.Model], attnames: tuple[str, ...], row, start: int):
    """An instance from ``row[start:start + len(attnames)]`` (the fields not read are deferred:
    Django loads them on first access), and the next position in the row."""
    end = start + len(attnames)
    return model.from_db(connection.alias, list(attnames), row[start:end]), end


# ---------------------------------------------------------------------------------------------
# The internal process of one dossier
# ---------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """The dossier's steps (latest attempt of each position, in order) and their roles:
    a leading clerk step is the reception step, a trailing clerk step the return step, the
    steps between are processing steps (officers, leaders)."""

    steps: list[DossierStep]

    @classmethod
    def of(cls, dossier: Dossier) -> Plan:
        latest: dict[int, DossierStep] = {}
        for step in DossierStep.objects.filter(dossier=dossier).select_related("unit", "agency"):
            latest[step.position] = step  # ordered by (position, attempt): the last one wins
        return cls(steps=[latest[p] for p in sorted(latest)])

    @property
    def reception(self) -> DossierStep | None:
        if len(self.steps) > 1 and self.steps[0].role == Role.CLERK:
            return self.steps[0]
        return None

    @property
    def return_step(self) -> DossierStep | None:
        if len(self.steps) > 1 and self.steps[-1].role == Role.CLERK:
            return self.steps[-1]
        return None

    @property
    def processing(self) -> list[DossierStep]:
        return [s for s in self.steps if s is not self.reception and s is not self.return_step]

    @property
    def first_processing(self) -> DossierStep | None:
        return self.processing[0] if self.processing else None

    def at(self, step_id: int | None) -> DossierStep | None:
        if step_id is None:
            return None
        for step in self.steps:
            if step.pk == step_id:
                return step
        # An older attempt: the plan only keeps the latest one of each position.
        return DossierStep.objects.select_related("unit", "agency").filter(pk=step_id).first()

    def next_processing(self, step: DossierStep | None) -> DossierStep | None:
        """The processing step after ``step`` (None: after the last one)."""
        after = [s for s in self.processing if step is None or s.position > step.position]
        return after[0] if after else None

    def previous_worker(self, step: DossierStep) -> DossierStep | None:
        """The last non-leader processing step before ``step``: where a send-back goes."""
        before = [
            s for s in self.processing if s.position < step.position and s.role != Role.LEADER
        ]
        return before[-1] if before else None


def finish_step(step: DossierStep, *, now: datetime, actor) -> bool | None:
    """Close ``step`` now; returns whether it was on time (None when it had no deadline)."""
    step.finished_at = now
    if step.handler_id is None and actor is not None:
        step.handler = actor
    step.on_time = None if step.due_at is None else now <= step.due_at
    step.save(update_fields=["finished_at", "handler", "on_time"])
    return step.on_time


def begin_step(
    dossier: Dossier, step: DossierStep, *, now: datetime, handler=None
) -> DossierStep:
    """Make ``step`` the dossier's current step from ``now``, its deadline from its allotment.
    A step already done once (sent back) starts again as a new attempt."""
    if step.started_at is not None:
        step = DossierStep(
            dossier=dossier, process_step_id=step.process_step_id, position=step.position,
            attempt=step.attempt + 1, name=step.name, agency=step.agency, unit=step.unit,
            role=step.role, hours=step.hours,
        )
    step.started_at = now
    step.due_at = calendar.add_working_hours(now, step.hours)
    step.handler = handler
    step.save()
    set_current(dossier, step, handler=handler)
    return step


def set_current(dossier: Dossier, step: DossierStep | None, *, handler=None) -> None:
    dossier.current_step = step
    dossier.current_unit = step.unit if step else None
    dossier.current_role = step.role if step else ""
    dossier.current_handler = handler


def describe_step(step: DossierStep | None) -> dict | None:
    if step is None:
        return None
    return {
        "step": step.pk, "position": step.position, "name": step.name,
        "unit": step.unit.code, "agency": step.agency.code,
    }


# ---------------------------------------------------------------------------------------------
# Events and their publication
# ---------------------------------------------------------------------------------------------


_history = contextvars.ContextVar("dossier_history_import", default=False)


@contextlib.contextmanager
def history_import():
    """Events written inside this block are past history being loaded (the demo seed): they
    are logged like any other, but nobody is told — no SMS, e-mail, notice or portal message."""
    token = _history.set(True)
    try:
        yield
    finally:
        _history.reset(token)


def append_event(
    *, dossier: Dossier, at: datetime, actor, transition: str, from_state: str,
    to_state: str, step: DossierStep | None = None, comment: str = "",
    on_time: bool | None = None, data: dict | None = None, event_id: int | None = None,
) -> DossierEvent:
    """Append one line to the log together with the messages it causes (``motcua.outbox``:
    SMS and e-mail to the citizen, staff notices, the national portal's status update), in the
    caller's transaction — the event and its messages commit together or not at all. Once it
    commits, ``dossiers.publish_event`` delivers them at once; if the broker is down the rows
    wait and ``motcua.deliver_outbox`` (beat, every minute) sends them.

    Every caller holds the dossier's row lock (``select_for_update``) or has just created the
    dossier: a dossier's events, and so its portal messages, are numbered in commit order.

    ``event_id``: an id reserved from the event table's sequence (the reception reserves it
    with the dossier's code), so that the event and its messages can go in one batch."""
    from motcua.outbox import outbox_record_event

    # Joins the caller's transaction (no savepoint: any error undoes the caller's write too);
    # opens one if a caller ever forgets.
    with transaction.atomic(savepoint=False):
        event = DossierEvent(
            id=event_id, dossier=dossier, at=at, actor=actor if getattr(actor, "pk", None) else None,
            transition=transition, from_state=from_state or "", to_state=to_state or "",
            step=step, comment=comment, on_time=on_time, data=data or {},
        )
        if fast_sql():
            insert_rows([event])  # an insert, as WrittenOnce.save() would do: never an update
        else:
            event.save()
        if _history.get():
            return event
        outbox_record_event(event=event, dossier=dossier, actor=actor)
    transaction.on_commit(partial(enqueue_publication, event.pk))
    return event


def enqueue_publication(event_id: int) -> None:
    """Ask a worker to deliver the event's messages soon: the events this process commits
    within ``MOTCUA_PUBLISH_WINDOW`` go in one ``dossiers.deliver_events`` message
    (``motcua.outbox.publication``). Best effort: the outbox rows are committed already, and
    the beat's ``motcua.deliver_outbox`` sends them if this is lost. Each event goes with the
    id of the request that wrote it, which the worker logs beside the event (docs/operations.md:
    one message serves several requests)."""
    from motcua.logging import current_request_id

    _publications.add((event_id, current_request_id() or ""))


def _send_publications(items: list[tuple[int, str]]) -> None:
    from dossiers.tasks import deliver_events

    deliver_events.delay([event_id for event_id, _r in items],
                         [request_id for _e, request_id in items])


_publications = Coalescer(_send_publications, name="dossiers.deliver_events")


def check_channel(version: ProcedureVersion, channel: str) -> None:
    if channel not in Channel.values:
        raise ValidationError(
            _("Cách thức nộp hồ sơ không hợp lệ: “%(channel)s”.") % {"channel": channel},
            code="invalid_channel", errors={"channel": [_("Cách thức nộp không hợp lệ.")]},
        )
    accepted = {
        Channel.IN_PERSON: version.accepts_in_person,
        Channel.ONLINE: version.accepts_online,
        Channel.POST: version.accepts_post,
    }[Channel(channel)]
    if not accepted:
        message = _("Thủ tục “%(name)s” không tiếp nhận hồ sơ %(channel)s.") % {
            "name": version.name, "channel": _channel_phrase(channel),
        }
        raise ValidationError(message, code="channel_not_accepted", errors={"channel": [message]})


def _channel_phrase(channel: str) -> str:
    return {
        Channel.IN_PERSON: _("nộp trực tiếp"),
        Channel.ONLINE: _("nộp trực tuyến"),
        Channel.POST: _("qua dịch vụ bưu chính"),
    }[Channel(channel)]
