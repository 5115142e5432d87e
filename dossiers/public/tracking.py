"""Public tracking of a dossier by its code and the applicant's phone (docs/citizen-portal.md,
"Tracking"): the page ``/tra-cuu/`` (URL name ``public-track``, the receipt's QR code fills the
code from ``?ma=``) and ``GET /api/public/track/{code}/?phone=…`` (CONTRACT.md).

What the citizen sees is what concerns him and nothing more: the state in plain words, the
appointment (and the apology letters that moved it), a timeline of steps with dates and units
(no staff names, no internal comments), what to do next, the fees. Never the applicant's name,
ID number, address or e-mail: the person asking has proven only the code and the phone.

Proof and lock-out: :mod:`dossiers.public.proof`. Both the page and the API are throttled with
the scope ``public_track`` (one allowance per client address, shared by both).
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote_plus

from django.apps import apps
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connection
from django.db.models import Q, Sum
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle
from rest_framework.views import APIView

from dossiers.models import (
    Dossier,
    DossierEvent,
    DossierStep,
    EventKind,
    Outcome,
    State,
    Transition,
)
from dossiers.public.proof import (
    CODE_MAX_LENGTH,
    client_ip,
    code_is_well_formed,
    dossier_by_proof,
    lock_minutes,
    max_failures,
    normalise_code,
    proof_cache_key,
)
from dossiers.validators import clean_phone
from motcua.calendar import TZ
from motcua.db import execute_prepared
from motcua.errors import DomainError, ValidationError
from procedures.models import Channel, FeeLine

__all__ = [
    "TrackThrottle",
    "Tracking",
    "track_api",
    "track_page",
    "tracking_by_proof",
]


# ---------------------------------------------------------------------------------------------
# Selectors (reads only)
# ---------------------------------------------------------------------------------------------


@dataclass
class TimelineItem:
    """One line of the citizen's timeline."""

    at: datetime
    event: str
    title: str
    unit: str = ""
    details: list[str] = field(default_factory=list)


@dataclass
class ApologyNote:
    """An apology letter (Mẫu 04) as the citizen reads it."""

    issued_at: datetime
    previous_due_at: datetime | None
    new_due_at: datetime | None
    reason: str
    unit: str = ""


@dataclass
class Place:
    """Where to go: a unit of an agency, with the agency's public address and phone."""

    unit: str
    agency: str
    address: str = ""
    phone: str = ""


@dataclass
class NextStep:
    """What the citizen must do now (``kind``: ``wait_desk``, ``wait``, ``supplement``,
    ``collect``, ``by_post``, ``rate``, ``rated``, ``resubmit``, ``contact``)."""

    kind: str
    title: str
    text: str
    items: list[str] = field(default_factory=list)
    place: Place | None = None
    rate_url: str = ""


@dataclass
class Fees:
    lines: list[dict] = field(default_factory=list)
    total_vnd: int | None = None
    paid_vnd: int | None = None
    paid_text: str = ""


@dataclass
class Tracking:
    """Everything the tracking page and API show of one dossier."""

    code: str
    procedure_code: str
    procedure_name: str
    agency: Place
    channel: str
    channel_label: str
    state: str
    state_label: str
    state_text: str
    submitted_at: datetime | None
    received_at: datetime | None
    due_at: datetime | None
    original_due_at: datetime | None
    result_ready_at: datetime | None
    returned_at: datetime | None
    outcome: str
    outcome_label: str
    current_step: str
    current_unit: str
    apologies: list[ApologyNote]
    timeline: list[TimelineItem]
    next_step: NextStep
    fees: Fees

    @property
    def is_open(self) -> bool:
        return self.state not in (State.RETURNED, State.REFUSED, State.WITHDRAWN, State.STOPPED)

    def as_json(self) -> dict:
        """The API's body: dates as ISO 8601 with the offset (+07:00). Written out rather
        than walked generically (``dataclasses.asdict`` deep-copies every leaf): this is the
        busiest public answer."""
        step = self.next_step
        return {
            "code": self.code,
            "procedure_code": self.procedure_code,
            "procedure_name": self.procedure_name,
            "agency": _place_json(self.agency),
            "channel": self.channel,
            "channel_label": self.channel_label,
            "state": self.state,
            "state_label": self.state_label,
            "state_text": self.state_text,
            "submitted_at": _iso(self.submitted_at),
            "received_at": _iso(self.received_at),
            "due_at": _iso(self.due_at),
            "original_due_at": _iso(self.original_due_at),
            "result_ready_at": _iso(self.result_ready_at),
            "returned_at": _iso(self.returned_at),
            "outcome": self.outcome,
            "outcome_label": self.outcome_label,
            "current_step": self.current_step,
            "current_unit": self.current_unit,
            "apologies": [
                {"issued_at": _iso(a.issued_at), "previous_due_at": _iso(a.previous_due_at),
                 "new_due_at": _iso(a.new_due_at), "reason": a.reason, "unit": a.unit}
                for a in self.apologies
            ],
            "timeline": [
                {"at": _iso(i.at), "event": i.event, "title": i.title, "unit": i.unit,
                 "details": i.details}
                for i in self.timeline
            ],
            "next_step": {
                "kind": step.kind, "title": step.title, "text": step.text, "items": step.items,
                "place": _place_json(step.place), "rate_url": step.rate_url,
            },
            "fees": {
                "lines": self.fees.lines, "total_vnd": self.fees.total_vnd,
                "paid_vnd": self.fees.paid_vnd, "paid_text": self.fees.paid_text,
            },
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(TZ).isoformat() if moment else None


def _place_json(place: Place | None) -> dict | None:
    if place is None:
        return None
    return {"unit": place.unit, "agency": place.agency, "address": place.address,
            "phone": place.phone}


@dataclass(frozen=True, slots=True)
class _Event:
    """One event as the tracking reads it (see :func:`_sql`)."""

    at: datetime
    transition: str
    from_state: str
    to_state: str
    data: dict
    step_name: str
    unit: str


@dataclass(frozen=True, slots=True)
class _Row:
    """The dossier and everything the page shows, from the single query."""

    code: str
    channel: str
    state: str
    outcome: str
    submitted_at: datetime | None
    received_at: datetime | None
    due_at: datetime | None
    original_due_at: datetime | None
    result_ready_at: datetime | None
    returned_at: datetime | None
    procedure_code: str
    procedure_name: str
    agency: Place
    step_name: str
    step_unit: str
    step_agency: Place | None
    events: list[_Event]
    fees: list[dict]
    rated: bool
    paid_vnd: int | None


@functools.lru_cache(maxsize=1)
def _sql() -> str:
    """One round trip for what changes with the dossier: the dossier by code + phone with its
    current step, its events (each with its step's name and unit; never the actor or the
    comment), whether it is rated and what was paid online. What does not change with it —
    the procedure version's code, name and fee lines, the names and addresses of agencies and
    units — comes from :class:`_Reference`, by id.

    Why SQL and not the ORM: tracking is the public endpoint that takes the load (every SMS
    and every receipt's QR code leads to it), and five ORM queries cost five compilations and
    round trips; this is one, over the unique indexes of ``code`` / ``provisional_code`` and
    primary-key or dossier indexes elsewhere (bench/tracking.py measures it with 1,000,000
    dossiers). Few tables on purpose: a prepared plan locks every table and index it touches
    on each execution, and past sixteen locks PostgreSQL leaves its fast path. Events come as
    JSON arrays, not objects (no key names to build and parse). The ratings and payments
    parts are optional: their columns are NULL without them."""
    t = {
        "dossier": Dossier._meta.db_table, "event": DossierEvent._meta.db_table,
        "step": DossierStep._meta.db_table,
    }
    rated = "NULL::boolean"
    if _model("ratings", "Rating", {"dossier"}) is not None:
        table = _model("ratings", "Rating", {"dossier"})._meta.db_table
        rated = (f"CASE WHEN d.state = '{State.RETURNED.value}' THEN EXISTS "
                 f'(SELECT 1 FROM "{table}" r WHERE r.dossier_id = d.id) END')
    paid = "NULL::bigint"
    payment = _model("payments", "Payment", {"dossier", "state", "amount_vnd"})
    if payment is not None:
        paid = (f'(SELECT sum(pm.amount_vnd) FROM "{payment._meta.db_table}" pm '
                f"WHERE pm.dossier_id = d.id AND pm.state = 'paid')")
    hidden = ", ".join(f"'{kind}'" for kind in sorted(_HIDDEN))
    keys = ", ".join(f"'{k}'" for k in (*PUBLIC_DATA_KEYS, "to"))
    return f"""
SELECT d.code, d.channel, d.state, d.outcome, d.submitted_at, d.received_at, d.due_at,
       d.original_due_at, d.result_ready_at, d.returned_at, d.procedure_version_id,
       d.agency_id, cs.name, cs.unit_id, cs.agency_id,
       (SELECT json_agg(json_build_array(
                   e.at, e.transition, e.from_state, e.to_state,
                   -- most events carry none of the public keys: build nothing for them
                   CASE WHEN e.data ?| array[{keys}] THEN jsonb_strip_nulls(
                       jsonb_build_object({_public_keys_sql()})) END,
                   s.name, s.unit_id) ORDER BY e.at, e.id)
          FROM "{t['event']}" e
          LEFT JOIN "{t['step']}" s ON s.id = e.step_id
         WHERE e.dossier_id = d.id AND e.transition NOT IN ({hidden})),
       {rated},
       {paid}
  FROM "{t['dossier']}" d
  LEFT JOIN "{t['step']}" cs ON cs.id = d.current_step_id
 WHERE (d.code = $1 OR d.provisional_code = $1) AND d.applicant_phone = $2
 ORDER BY d.id
 LIMIT 1"""


#: The keys of an event's ``data`` that the citizen may read (the rest never leaves the
#: database: officers, units and steps by id, internal flags). ``to_name``: the step reached.
PUBLIC_DATA_KEYS = (
    "reasons", "missing_documents", "reason", "legal_basis", "new_due_at", "previous_due_at",
)


def _public_keys_sql() -> str:
    keys = ", ".join(f"'{k}', e.data->'{k}'" for k in PUBLIC_DATA_KEYS)
    return f"{keys}, 'to_name', e.data->'to'->'name'"


def _public_data(data) -> dict:
    """The same keys from a ``data`` dict (the portable loader)."""
    if not isinstance(data, dict):
        return {}
    out = {k: data[k] for k in PUBLIC_DATA_KEYS if data.get(k) is not None}
    to = data.get("to")
    if isinstance(to, dict) and to.get("name") is not None:
        out["to_name"] = to["name"]
    return out


def _model(app: str, name: str, fields: set[str]):
    """An optional part's model, if installed and shaped as expected (else ``None``)."""
    try:
        model = apps.get_model(app, name)
    except LookupError:
        return None
    names = {f.name for f in model._meta.get_fields()}
    return model if fields <= names else None


# ---------------------------------------------------------------------------------------------
# What does not change with the dossier, kept in the process
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Version:
    procedure_code: str
    name: str
    fees: tuple[tuple[str, int | None], ...]


class _Reference:
    """Names and addresses of agencies and units, and the code, name and fee lines of the
    procedure versions that dossiers use — read by id on every lookup, so kept in each web
    process instead of joined into every query.

    A version that a dossier uses is never edited (an edit makes a new version:
    ``procedures.services.procedure_update``) and a procedure's code never changes. Agencies
    and units may be edited: the whole store is dropped after :data:`REFERENCE_SECONDS`, at
    once in the process that saved the change (signals below), and whenever an id is missing
    from it (a new agency, unit or version is seen at once in every process)."""

    __slots__ = ("agencies", "born", "units", "versions")

    def __init__(self):
        self.born = time.monotonic()
        self.agencies: dict[int, tuple[str, str, str]] | None = None
        self.units: dict[int, str] | None = None
        self.versions: dict[int, _Version] = {}

    def _org(self) -> None:
        from motcua.models import Agency, Unit

        self.agencies = {
            pk: (name, address, phone)
            for pk, name, address, phone in Agency.objects.values_list(
                "id", "name", "address", "phone"
            )
        }
        self.units = dict(Unit.objects.values_list("id", "name"))

    def agency(self, pk: int | None) -> tuple[str, str, str]:
        if pk is None:
            return ("", "", "")
        if self.agencies is None or pk not in self.agencies:
            self._org()
        return self.agencies.get(pk, ("", "", ""))

    def unit(self, pk: int | None) -> str:
        if pk is None:
            return ""
        if self.units is None or pk not in self.units:
            self._org()
        return self.units.get(pk, "")

    def version(self, pk: int) -> _Version:
        found = self.versions.get(pk)
        if found is None:
            from procedures.models import ProcedureVersion

            code, name = (
                ProcedureVersion.objects.filter(pk=pk)
                .values_list("procedure__code", "name").first() or ("", "")
            )
            fees = tuple(
                FeeLine.objects.filter(version_id=pk).order_by("position", "id")
                .values_list("name", "amount_vnd")
            )
            found = self.versions[pk] = _Version(procedure_code=code, name=name, fees=fees)
        return found


#: How long a process trusts what it read of agencies and units (seconds): an edit shows on
#: the tracking of other processes at the latest this much later.
REFERENCE_SECONDS = 60
_reference: _Reference | None = None


def _ref() -> _Reference:
    global _reference
    ref = _reference
    if ref is None or time.monotonic() - ref.born > REFERENCE_SECONDS:
        ref = _reference = _Reference()
    return ref


def _forget_reference(**_kwargs) -> None:
    global _reference
    _reference = None


def _connect_reference_signals() -> None:
    from motcua.models import Agency, Unit
    from procedures.models import Procedure, ProcedureVersion

    for model in (Agency, Unit, Procedure, ProcedureVersion, FeeLine):
        for signal in (post_save, post_delete):
            signal.connect(_forget_reference, sender=model, weak=False,
                           dispatch_uid=f"tracking-reference-{model._meta.label}-{id(signal)}")


_connect_reference_signals()


#: The statement's name in each PostgreSQL session (prepared once per session).
STATEMENT = "motcua_public_track"


def _load(code: str, phone: str) -> _Row | None:
    """The dossier whose code (or provisional code) is ``code`` and phone ``phone`` (both
    clean), with everything the page shows. On PostgreSQL one query, a statement prepared
    once per database session: planning this query costs several times its execution, and a
    prepared statement is planned once (sessions live ``CONN_MAX_AGE``; behind a pooler in
    transaction mode see docs/scaling.md "Connection pooling": SQL ``PREPARE`` is per server session,
    which such a pooler does not keep). Elsewhere (the SQLite demo)
    the ORM, in five queries."""
    if connection.vendor != "postgresql":
        return _load_portable(code, phone)
    row = _execute(code, phone)
    if row is None:
        return None
    (code, channel, state, outcome, submitted_at, received_at, due_at, original_due_at,
     result_ready_at, returned_at, version_id, agency_id, step_name, step_unit_id,
     step_agency_id, events, rated, paid) = row
    if isinstance(events, str):
        events = json.loads(events)
    ref = _ref()
    version = ref.version(version_id)
    unit = ref.unit
    step_unit = unit(step_unit_id)
    return _Row(
        code=code, channel=channel, state=state, outcome=outcome or "",
        submitted_at=submitted_at, received_at=received_at, due_at=due_at,
        original_due_at=original_due_at, result_ready_at=result_ready_at,
        returned_at=returned_at, procedure_code=version.procedure_code,
        procedure_name=version.name, agency=_place("", *ref.agency(agency_id)),
        step_name=step_name or "", step_unit=step_unit,
        step_agency=(_place(step_unit, *ref.agency(step_agency_id))
                     if step_agency_id is not None else None),
        events=[
            _Event(at=_fromiso(at), transition=transition, from_state=from_state or "",
                   to_state=to_state or "", data=data or {}, step_name=s_name or "",
                   unit=unit(s_unit))
            for at, transition, from_state, to_state, data, s_name, s_unit in events or ()
        ],
        fees=_fee_dicts(version.fees), rated=bool(rated), paid_vnd=int(paid) if paid else None,
    )


def _execute(code: str, phone: str) -> tuple | None:
    """The statement's row. Stands in for the health check Django runs before a request's
    first query on a kept connection (``CONN_HEALTH_CHECKS``: a ``SELECT 1`` round trip, a
    tenth of this request's cost): the query itself is the check. If the connection turns out
    dead (the server restarted, a firewall dropped it), it is closed and the query runs once
    more on a new connection — what the health check would have done, one round trip later
    and only then. Not inside a transaction, where nothing can be retried: there Django's
    check runs as usual."""
    retry = (
        connection.connection is not None and connection.health_check_enabled
        and not connection.health_check_done and not connection.in_atomic_block
    )
    if retry:
        connection.health_check_done = True
    try:
        return _run(code, phone)
    except (OperationalError, InterfaceError):
        if not retry:
            raise
        connection.close()
        return _run(code, phone)


def _run(code: str, phone: str) -> tuple | None:
    with connection.cursor() as cursor:
        execute_prepared(cursor, STATEMENT, _sql(), [code, phone], types="text, text")
        return cursor.fetchone()


def _fromiso(value: str) -> datetime:
    # PostgreSQL writes timestamps in JSON as ISO 8601 with the offset: the C parser suffices.
    return datetime.fromisoformat(value)


def _fee_dicts(fees) -> list[dict]:
    return [{"name": name, "amount_vnd": amount} for name, amount in fees]


def _place(unit, agency, address, phone) -> Place:
    return Place(unit=unit or "", agency=agency or "", address=address or "", phone=phone or "")


def _load_portable(code: str, phone: str) -> _Row | None:
    """What :func:`_load` reads, through the ORM (any database)."""
    dossier = (
        Dossier.objects.select_related(
            "procedure_version__procedure", "agency", "current_step__unit",
            "current_step__agency",
        )
        .filter(Q(code=code) | Q(provisional_code=code), applicant_phone=phone)
        .order_by("id")
        .first()
    )
    if dossier is None:
        return None
    events = (
        DossierEvent.objects.filter(dossier=dossier)
        .exclude(transition__in=_HIDDEN)
        .select_related("step__unit")
        .order_by("at", "id")
    )
    fees = (
        FeeLine.objects.filter(version_id=dossier.procedure_version_id)
        .order_by("position", "id")
        .values("name", "amount_vnd")
    )
    rating = _model("ratings", "Rating", {"dossier"})
    payment = _model("payments", "Payment", {"dossier", "state", "amount_vnd"})
    paid = (
        payment.objects.filter(dossier_id=dossier.pk, state="paid")
        .aggregate(s=Sum("amount_vnd"))["s"] if payment is not None else None
    )
    agency, step = dossier.agency, dossier.current_step
    return _Row(
        code=dossier.code, channel=dossier.channel, state=dossier.state,
        outcome=dossier.outcome or "", submitted_at=dossier.submitted_at,
        received_at=dossier.received_at, due_at=dossier.due_at,
        original_due_at=dossier.original_due_at, result_ready_at=dossier.result_ready_at,
        returned_at=dossier.returned_at,
        procedure_code=dossier.procedure_version.procedure.code,
        procedure_name=dossier.procedure_version.name,
        agency=_place("", agency.name, agency.address, agency.phone),
        step_name=step.name if step else "", step_unit=step.unit.name if step else "",
        step_agency=_place(step.unit.name, step.agency.name, step.agency.address,
                           step.agency.phone) if step else None,
        events=[
            _Event(
                at=e.at, transition=e.transition, from_state=e.from_state or "",
                to_state=e.to_state or "", data=_public_data(e.data),
                step_name=e.step.name if e.step else "",
                unit=e.step.unit.name if e.step else "",
            )
            for e in events
        ],
        fees=list(fees),
        rated=rating is not None and rating.objects.filter(dossier_id=dossier.pk).exists(),
        paid_vnd=int(paid) if paid else None,
    )


def tracking_by_proof(*, code, phone, ip: str) -> Tracking | None:
    """The dossier's tracking if code and phone match, else ``None`` (the lock-out and its
    counting: :func:`dossier_by_proof`). One query, whatever the dossier's history."""
    row = dossier_by_proof(code=code, phone=phone, ip=ip, lookup=_load)
    return None if row is None else _tracking(row)


def _tracking(row: _Row) -> Tracking:
    words = _words(get_language())
    apologies = [_apology(e) for e in row.events if e.transition == EventKind.APOLOGY]
    state = row.state
    titles = words.titles
    return Tracking(
        code=row.code,
        procedure_code=row.procedure_code,
        procedure_name=row.procedure_name,
        agency=row.agency,
        channel=row.channel,
        channel_label=words.channels.get(row.channel, ""),
        state=state,
        state_label=words.states[state],
        state_text=_state_text(row),
        submitted_at=row.submitted_at,
        received_at=row.received_at,
        due_at=row.due_at,
        original_due_at=row.original_due_at if apologies else None,
        result_ready_at=row.result_ready_at,
        returned_at=row.returned_at,
        outcome=row.outcome,
        outcome_label=words.outcomes.get(row.outcome, ""),
        current_step=row.step_name if state != State.RESULT_READY else "",
        current_unit=row.step_unit,
        apologies=apologies,
        timeline=[item for e in row.events if (item := _describe(e, titles)) is not None],
        next_step=_next_step(row),
        fees=_fees(row),
    )


@dataclass(frozen=True, slots=True)
class _Words:
    """The labels and timeline titles of one language (translated once per process)."""

    channels: dict[str, str]
    states: dict[str, str]
    outcomes: dict[str, str]
    titles: dict[str, str]


@functools.lru_cache(maxsize=16)
def _words(language: str | None) -> _Words:
    """The constant words of the page in ``language`` — the active language when called, so
    the key and the translations agree. Translating them on every request (a lazy label, an
    enum lookup, a catalogue lookup each) cost more than the rest of the answer's building."""
    return _Words(
        channels={c.value: str(c.label) for c in Channel},
        states={s.value: str(s.label) for s in State},
        outcomes={o.value: str(o.label) for o in Outcome},
        titles={
            EventKind.SUBMIT.value: _("Nộp hồ sơ trực tuyến"),
            Transition.RECEIVE.value: _("Hồ sơ được tiếp nhận"),
            Transition.REFUSE.value: _("Hồ sơ không được tiếp nhận"),
            Transition.START.value: _("Chuyển hồ sơ đến đơn vị giải quyết"),
            Transition.REQUEST_SUPPLEMENT.value: _("Yêu cầu bổ sung hồ sơ"),
            Transition.SUPPLEMENT.value: _("Đã nhận hồ sơ bổ sung, tiếp tục giải quyết"),
            Transition.SUBMIT_FOR_APPROVAL.value: _("Trình lãnh đạo phê duyệt"),
            Transition.DENY.value: _("Có văn bản trả lời: từ chối giải quyết"),
            _RESULT: _("Đã có kết quả, chuyển về nơi trả kết quả"),
            Transition.APPROVE.value: _("Lãnh đạo đã phê duyệt"),
            Transition.FORWARD.value: _("Chuyển bước xử lý"),
            Transition.SEND_BACK.value: _("Hồ sơ được chuyển lại để hoàn thiện"),
            Transition.RETURN_RESULT.value: _("Đã trả kết quả"),
            Transition.WITHDRAW.value: _("Rút hồ sơ theo yêu cầu của công dân"),
            Transition.STOP.value: _("Dừng giải quyết hồ sơ"),
            EventKind.APOLOGY.value: _("Văn bản xin lỗi và hẹn lại ngày trả kết quả"),
        },
    )


#: The title key of an approval or a hand-over that brings the result to the desk.
_RESULT = "result_ready"


_HIDDEN = {EventKind.ASSIGN.value, EventKind.ATTACH.value}


def _lines(values) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list | tuple):
        return []
    return [str(v).strip() for v in values if str(v).strip()]


def _moment(value) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def _reasons(values) -> list[str]:
    return [_("Lý do: %(reason)s") % {"reason": r} for r in _lines(values)]


def _next_name(data: dict) -> list[str]:
    name = data.get("to_name")
    return [_("Bước tiếp theo: %(step)s") % {"step": name}] if name else []


def _describe(event: _Event, titles: dict[str, str]) -> TimelineItem | None:
    """The event in plain words (``titles``: :func:`_words`), or ``None`` for what is
    internal (assignments, files) or unknown. Comments are never shown: only what the
    services record for the citizen (the reasons of a refusal or denial, the documents to
    supplement, the legal basis of a stop — the same words as the slips he is given)."""
    kind, data = event.transition, event.data
    title = titles.get(kind)
    if title is None:
        return None
    details: list[str] = []
    if kind in _MAY_REACH_RESULT:
        if event.to_state == State.RESULT_READY and event.from_state != State.RESULT_READY:
            title = titles[_RESULT]
        elif kind == Transition.APPROVE:
            details = _next_name(data)
        else:  # a hand-over between steps
            if event.step_name:
                title = _("Hoàn thành bước “%(step)s”") % {"step": event.step_name}
            details = _next_name(data)
    elif not data:
        pass  # nothing to detail (most events)
    elif kind == Transition.REFUSE or kind == Transition.DENY:
        details = _reasons(data.get("reasons"))
    elif kind == Transition.START:
        details = _next_name(data)
    elif kind == Transition.REQUEST_SUPPLEMENT:
        details = [_("Cần bổ sung: %(doc)s") % {"doc": d} for d in _lines(data.get("missing_documents"))]
        details += _reasons(data.get("reasons"))
    elif kind == Transition.WITHDRAW:
        details = _reasons(data.get("reason"))
    elif kind == Transition.STOP:
        details = [_("Căn cứ: %(basis)s") % {"basis": r} for r in _lines(data.get("legal_basis"))]
    elif kind == EventKind.APOLOGY:
        new_due = _moment(data.get("new_due_at"))
        if new_due:
            details.append(_("Hẹn trả mới: %(when)s") % {"when": _when(new_due)})
        details += _reasons(data.get("reason"))
    return TimelineItem(at=event.at, event=kind, title=title, unit=event.unit, details=details)


_MAY_REACH_RESULT = frozenset({Transition.APPROVE.value, Transition.FORWARD.value})


def _when(moment: datetime) -> str:
    from django.utils import formats, timezone

    return formats.date_format(timezone.localtime(moment), "H:i d/m/Y")


def _apology(event: _Event) -> ApologyNote:
    data = event.data
    return ApologyNote(
        issued_at=event.at,
        previous_due_at=_moment(data.get("previous_due_at")),
        new_due_at=_moment(data.get("new_due_at")),
        reason=" ".join(_lines(data.get("reason"))),
        unit=event.unit,
    )


def _state_text(row: _Row) -> str:
    state = row.state
    if state == State.SUBMITTED:
        return _("Hồ sơ nộp trực tuyến đang chờ bộ phận một cửa kiểm tra.")
    if state == State.RECEIVED:
        return _("Hồ sơ đã được tiếp nhận và sẽ được chuyển đến đơn vị giải quyết.")
    if state == State.IN_PROGRESS:
        if row.step_unit:
            return _("Hồ sơ đang được giải quyết tại %(unit)s.") % {"unit": row.step_unit}
        return _("Hồ sơ đang được giải quyết.")
    if state == State.SUPPLEMENT_REQUESTED:
        return _("Hồ sơ đang tạm dừng, chờ bạn bổ sung giấy tờ.")
    if state == State.AWAITING_APPROVAL:
        return _("Hồ sơ đang chờ lãnh đạo phê duyệt.")
    if state == State.RESULT_READY:
        return _("Đã có kết quả, chờ bạn nhận.")
    if state == State.RETURNED:
        return _("Bạn đã nhận kết quả. Hồ sơ đã hoàn thành.")
    if state == State.REFUSED:
        return _("Hồ sơ không được tiếp nhận.")
    if state == State.WITHDRAWN:
        return _("Hồ sơ đã được rút theo yêu cầu của bạn.")
    return _("Cơ quan đã dừng giải quyết hồ sơ.")


def _desk(row: _Row) -> Place:
    """Where the citizen goes: the step holding the dossier when the result waits there,
    else the receiving agency's one-stop desk."""
    if row.state == State.RESULT_READY and row.step_agency is not None:
        return row.step_agency
    return Place(unit=_("Bộ phận tiếp nhận và trả kết quả"), agency=row.agency.agency,
                 address=row.agency.address, phone=row.agency.phone)


def rate_url(code: str) -> str:
    """The rating page for ``code`` if the ratings part is installed, else ``""``; ``nguon``
    records the tracking page as where the rating was given."""
    path = _rate_path(get_script_prefix())
    return f"{path}?ma={quote_plus(code)}&nguon=tra-cuu" if path else ""


@functools.lru_cache(maxsize=4)
def _rate_path(prefix: str) -> str:
    # Reversing costs more than the rest of "what next"; the URLconf does not change while
    # the process runs (``prefix``: the script prefix it depends on).
    try:
        return reverse("public-rate")
    except NoReverseMatch:
        return ""


def _next_step(row: _Row) -> NextStep:
    state = row.state
    if state == State.SUBMITTED:
        return NextStep(
            kind="wait_desk", title=_("Chưa cần làm gì"),
            text=_("Bộ phận một cửa sẽ kiểm tra hồ sơ trong giờ hành chính và nhắn tin cho bạn "
                   "khi hồ sơ được tiếp nhận (kèm mã hồ sơ chính thức và ngày hẹn trả) hoặc cần "
                   "bổ sung."),
        )
    if state in (State.RECEIVED, State.IN_PROGRESS, State.AWAITING_APPROVAL):
        text = _("Hồ sơ đang được giải quyết. Chúng tôi sẽ nhắn tin cho bạn khi có kết quả.")
        if row.due_at:
            text = _("Hồ sơ đang được giải quyết, hẹn trả kết quả lúc %(when)s. Chúng tôi sẽ "
                     "nhắn tin cho bạn khi có kết quả.") % {"when": _when(row.due_at)}
        return NextStep(kind="wait", title=_("Chưa cần làm gì"), text=text)
    if state == State.SUPPLEMENT_REQUESTED:
        request = next(
            (e for e in reversed(row.events) if e.transition == Transition.REQUEST_SUPPLEMENT),
            None,
        )
        data = request.data if request is not None else {}
        return NextStep(
            kind="supplement", title=_("Bổ sung giấy tờ"),
            text=_("Mang hoặc gửi các giấy tờ dưới đây đến bộ phận một cửa. Thời gian chờ bổ "
                   "sung không tính vào thời hạn giải quyết; hồ sơ được giải quyết tiếp ngay khi "
                   "nhận đủ. Nếu không bổ sung, cơ quan có thể dừng giải quyết hồ sơ."),
            items=_lines(data.get("missing_documents")) + _reasons(data.get("reasons")),
            place=_desk(row),
        )
    if state == State.RESULT_READY:
        if row.channel == Channel.POST:
            return NextStep(
                kind="by_post", title=_("Nhận kết quả qua bưu điện"),
                text=_("Kết quả được gửi qua dịch vụ bưu chính công ích đến địa chỉ bạn đã "
                       "đăng ký."),
            )
        text = _("Mời bạn đến nhận kết quả. Mang theo giấy tiếp nhận hồ sơ và căn cước "
                 "(hoặc giấy tờ tùy thân có ảnh); nếu nhận thay, mang theo giấy ủy quyền.")
        if row.outcome == Outcome.DENIED:
            text = _("Kết quả là văn bản trả lời nêu rõ lý do không giải quyết.") + " " + text
        return NextStep(kind="collect", title=_("Đến nhận kết quả"), text=text, place=_desk(row))
    if state == State.RETURNED:
        if row.rated:
            return NextStep(kind="rated", title=_("Cảm ơn bạn đã đánh giá"),
                            text=_("Ý kiến của bạn đã được ghi nhận."))
        return NextStep(
            kind="rate", title=_("Đánh giá mức độ hài lòng"),
            text=_("Mời bạn dành một phút đánh giá việc giải quyết hồ sơ: ý kiến của bạn giúp "
                   "chúng tôi phục vụ tốt hơn."),
            rate_url=rate_url(row.code),
        )
    if state == State.REFUSED:
        return NextStep(
            kind="resubmit", title=_("Hoàn thiện và nộp lại"),
            text=_("Hồ sơ không được tiếp nhận vì lý do ghi trong lịch sử bên dưới. Bạn có thể "
                   "hoàn thiện và nộp hồ sơ mới."),
            place=_desk(row),
        )
    return NextStep(
        kind="contact", title=_("Liên hệ cơ quan nếu cần"),
        text=_("Hồ sơ đã kết thúc. Nếu cần nhận lại giấy tờ hoặc được giải thích thêm, vui lòng "
               "liên hệ bộ phận một cửa."),
        place=_desk(row),
    )


def _fees(row: _Row) -> Fees:
    lines = [
        {"name": f["name"], "amount_vnd": f["amount_vnd"], "amount_text": _vnd(f["amount_vnd"])}
        for f in row.fees
    ]
    known = [line["amount_vnd"] for line in lines if line["amount_vnd"] is not None]
    total = sum(known) if known else None
    return Fees(lines=lines, total_vnd=total, paid_vnd=row.paid_vnd, paid_text=_vnd(row.paid_vnd))


def _vnd(amount: int | None) -> str:
    """``1.500.000`` (Vietnamese thousands separator); ``""`` for no amount."""
    return f"{amount:,}".replace(",", ".") if amount else ""


# ---------------------------------------------------------------------------------------------
# Throttle
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _parse_rate(rate: str) -> tuple[int, int]:
    return SimpleRateThrottle.parse_rate(None, rate)


class TrackThrottle(BaseThrottle):
    """Scope ``public_track`` (``PUBLIC_TRACK_THROTTLE_RATE``, 20/min by default): one
    allowance per client address, for the page and the API together.

    A counter per fixed window (``cache.add`` + ``cache.incr``: atomic in Redis, one or two
    round trips whatever the rate) rather than DRF's list of timestamps, which every request
    reads and rewrites whole, and which two processes can overwrite at the same moment. A
    burst at a window's edge may reach twice the rate for a moment; the lock-out of
    :mod:`dossiers.public.proof` is what stops guessing."""

    scope = "public_track"

    def __init__(self):
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if not rate:
            return True
        allowed, seconds = _parse_rate(rate)
        now = time.time()
        window = int(now // seconds)
        key = proof_cache_key(f"throttle:{self.scope}:{window}", client_ip(request))
        try:
            count = cache.incr(key)
        except ValueError:  # first request of the window (or the key just expired)
            count = 1 if cache.add(key, 1, seconds + 1) else cache.incr(key)
        self._wait = (window + 1) * seconds - now
        return count <= allowed

    def wait(self) -> float | None:
        return self._wait


class TrackingNotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = gettext_lazy(
        "Không tìm thấy hồ sơ với mã và số điện thoại này. Vui lòng kiểm tra mã trên giấy "
        "tiếp nhận và số điện thoại đã khai khi nộp hồ sơ."
    )


class TrackThrottled(DomainError):
    code = "throttled"
    status = 429

    def __init__(self, wait: float | None):
        self.wait = max(1, int(wait or 60))
        super().__init__(_wait_message(self.wait))


def _wait_message(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return _("Bạn đã tra cứu quá nhiều lần. Vui lòng thử lại sau %(n)d phút.") % {"n": minutes}


def _not_found_message() -> str:
    return _(
        "Không tìm thấy hồ sơ với mã và số điện thoại này. Vui lòng kiểm tra mã trên giấy tiếp "
        "nhận và số điện thoại đã khai khi nộp hồ sơ. Sau %(n)d lần nhập sai, việc tra cứu tạm "
        "khóa %(minutes)d phút."
    ) % {"n": max_failures(), "minutes": lock_minutes()}


# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------


def clean_input(code, phone) -> tuple[str, str, dict[str, str]]:
    """(code, phone, errors by field): clear messages for what cannot be a code or a mobile
    number — the format is public, so saying so tells nothing about any dossier."""
    errors: dict[str, str] = {}
    raw = code if isinstance(code, str) else ""
    code = normalise_code(raw)
    if not code:
        errors["code"] = _("Vui lòng nhập mã hồ sơ (in trên giấy tiếp nhận).")
    elif len(code) > CODE_MAX_LENGTH:
        errors["code"] = _("Mã hồ sơ quá dài: tối đa %(n)d ký tự.") % {"n": CODE_MAX_LENGTH}
    elif not code_is_well_formed(code):
        errors["code"] = _(
            "Mã hồ sơ chỉ gồm chữ cái không dấu, chữ số, dấu chấm và dấu gạch ngang, "
            "ví dụ 000.00.00.H30-251123-0007."
        )
    try:
        phone = clean_phone(phone)
    except ValidationError as exc:  # its message is for people, in Vietnamese
        errors["phone"] = str(exc.message)
        phone = ""
    return code, phone, errors


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------


def _prefill(value) -> str:
    code = normalise_code(value)
    return code if code_is_well_formed(code) else ""


def _page(request, *, status: int = 200, **context) -> HttpResponse:
    response = render(request, "public/track.html", context, status=status)
    # The answer is about one person's dossier: never kept by a shared cache or the browser.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    return response


@require_http_methods(["GET", "POST"])
def track_page(request: HttpRequest) -> HttpResponse:
    """``/tra-cuu/``: GET shows the form (the code from ``?ma=``, as the receipt's QR code
    gives it); POST (CSRF) looks the dossier up and shows it in the answer itself — the phone
    never goes into a URL, a redirect or a log line."""
    if request.method == "GET":
        return _page(request, form={"code": _prefill(request.GET.get("ma")), "phone": ""})
    raw_code = request.POST.get("code", "")
    raw_phone = request.POST.get("phone", "")
    form = {"code": raw_code[: CODE_MAX_LENGTH * 2], "phone": raw_phone[:32]}
    throttle = TrackThrottle()
    if not throttle.allow_request(request, None):
        wait = int(throttle.wait() or 60)
        response = _page(request, status=429, form=form, error=_wait_message(wait))
        response["Retry-After"] = str(wait)
        return response
    code, phone, errors = clean_input(raw_code, raw_phone)
    if errors:
        return _page(request, status=400, form=form, errors=errors)
    tracking = tracking_by_proof(code=code, phone=phone, ip=client_ip(request))
    if tracking is None:
        return _page(request, status=404, form=form, error=_not_found_message())
    return _page(request, form={"code": tracking.code, "phone": ""}, tracking=tracking)


# ---------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------


class InvalidTrackingInput(DomainError):
    code = "invalid"


def _json(body: dict, status: int = 200) -> HttpResponse:
    """JSON with ``<``, ``>`` and ``&`` escaped (as the dossier API's renderer): what a citizen
    typed stays inert even if a client pastes the answer into HTML."""
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    response = HttpResponse(data, status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def _error(exc: DomainError) -> HttpResponse:
    """The errors' shape of ``motcua.api.exception_handler``: ``{code, detail, errors?}``."""
    body = {"code": exc.code, "detail": str(exc.message)}
    if exc.errors:
        body["errors"] = exc.errors
    response = _json(body, status=exc.status)
    if isinstance(exc, TrackThrottled):
        response["Retry-After"] = str(exc.wait)
    return response


def _track(request, code: str) -> dict:
    """The API's rules, for both entry points: throttle, input, proof."""
    throttle = TrackThrottle()
    if not throttle.allow_request(request, None):
        raise TrackThrottled(throttle.wait())
    code, phone, errors = clean_input(code, request.GET.get("phone", ""))
    if errors:
        raise InvalidTrackingInput(
            " ".join(errors.values()), code=f"invalid_{next(iter(errors))}",
            errors={k: [v] for k, v in errors.items()},
        )
    tracking = tracking_by_proof(code=code, phone=phone, ip=client_ip(request))
    if tracking is None:
        raise TrackingNotFound(_not_found_message())
    return tracking.as_json()


@require_http_methods(["GET", "HEAD"])
def track_api(request: HttpRequest, code: str) -> HttpResponse:
    """``GET /api/public/track/{code}/?phone=…`` — public, no login, no session, throttled
    (scope ``public_track``). 200 with the tracking; 400 for what cannot be a code or a
    mobile number; the same 404 for a wrong code, a wrong phone and a locked-out client; 429
    with ``Retry-After`` beyond the allowance.

    A plain Django view: DRF's request cycle (authentication, negotiation, renderer) cost a
    third of this endpoint's time (bench/tracking.py) and gives nothing here — no login, one
    format. The API's documentation comes from :class:`PublicTrackView`, which the OpenAPI
    schema reads through ``track_api.cls``."""
    try:
        return _json(_track(request, code))
    except DomainError as exc:
        return _error(exc)


class PublicTrackView(APIView):
    """The OpenAPI description of :func:`track_api` (same rules, through DRF)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Tra cứu hồ sơ bằng mã hồ sơ và số điện thoại",
        description=(
            "Công khai, không cần đăng nhập, giới hạn số lần tra cứu (phạm vi public_track). "
            "Mã sai và số điện thoại sai cho cùng một câu trả lời 404; nhập sai nhiều lần bị "
            "tạm khóa. Không trả về thông tin cá nhân."
        ),
        parameters=[
            OpenApiParameter("phone", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True,
                             description="Số điện thoại di động đã khai khi nộp hồ sơ."),
        ],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Tình trạng hồ sơ."),
            400: OpenApiResponse(description="Mã hồ sơ hoặc số điện thoại sai định dạng."),
            404: OpenApiResponse(description="Không có hồ sơ khớp cả mã và số điện thoại."),
            429: OpenApiResponse(description="Tra cứu quá nhiều lần."),
        },
        tags=["public"],
    )
    def get(self, request, code: str):
        try:
            body = _track(request, code)
        except DomainError as exc:
            return _error(exc)
        return _json(body)


# drf-spectacular documents a URL pattern whose callback names its APIView class.
track_api.cls = PublicTrackView
track_api.initkwargs = {}
