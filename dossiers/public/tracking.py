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
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from django.apps import apps
from django.core.cache import cache
from django.db import connection
from django.db.models import Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
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


@dataclass(frozen=True)
class _Event:
    """One event as the tracking reads it (see :func:`_sql`)."""

    at: datetime
    transition: str
    from_state: str
    to_state: str
    data: dict
    step_name: str
    unit: str


@dataclass(frozen=True)
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
    """One round trip for everything: the dossier by code + phone with its procedure, agency
    and current step, its events (with each step's name and unit; never the actor or the
    comment), the fee lines, whether it is rated and what was paid online.

    Why SQL and not the ORM: tracking is the public endpoint that takes the load (every SMS
    and every receipt's QR code leads to it), and five ORM queries cost five compilations and
    round trips; this is one, over the unique indexes of ``code`` / ``provisional_code`` and
    the dossier indexes of the other tables (bench/tracking.py measures it with 1,000,000
    dossiers). The ratings and payments parts are optional: their columns are NULL without
    them."""
    from motcua.models import Agency, Unit
    from procedures.models import Procedure, ProcedureVersion

    t = {
        "dossier": Dossier._meta.db_table, "event": DossierEvent._meta.db_table,
        "step": DossierStep._meta.db_table, "unit": Unit._meta.db_table,
        "agency": Agency._meta.db_table, "version": ProcedureVersion._meta.db_table,
        "procedure": Procedure._meta.db_table, "fee": FeeLine._meta.db_table,
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
    return f"""
SELECT d.code, d.channel, d.state, d.outcome, d.submitted_at, d.received_at, d.due_at,
       d.original_due_at, d.result_ready_at, d.returned_at,
       p.code, v.name, a.name, a.address, a.phone,
       cs.name, cu.name, ca.name, ca.address, ca.phone,
       (SELECT coalesce(json_agg(json_build_object(
                   'at', e.at, 'transition', e.transition, 'from_state', e.from_state,
                   'to_state', e.to_state, 'data', jsonb_strip_nulls(jsonb_build_object(
                       {_public_keys_sql()})), 'step_name', s.name,
                   'unit', u.name) ORDER BY e.at, e.id), '[]'::json)
          FROM "{t['event']}" e
          -- the dossier's own steps, read once (one index range, one page), not one
          -- primary-key probe per event
          LEFT JOIN (SELECT ss.id, ss.name, ss.unit_id FROM "{t['step']}" ss
                      WHERE ss.dossier_id = d.id OFFSET 0) s ON s.id = e.step_id
          LEFT JOIN "{t['unit']}" u ON u.id = s.unit_id
         WHERE e.dossier_id = d.id AND e.transition NOT IN ({hidden})),
       (SELECT coalesce(json_agg(json_build_object('name', f.name, 'amount_vnd', f.amount_vnd)
                   ORDER BY f.position, f.id), '[]'::json)
          FROM "{t['fee']}" f WHERE f.version_id = d.procedure_version_id),
       {rated},
       {paid}
  FROM "{t['dossier']}" d
  JOIN "{t['version']}" v ON v.id = d.procedure_version_id
  JOIN "{t['procedure']}" p ON p.id = v.procedure_id
  JOIN "{t['agency']}" a ON a.id = d.agency_id
  LEFT JOIN "{t['step']}" cs ON cs.id = d.current_step_id
  LEFT JOIN "{t['unit']}" cu ON cu.id = cs.unit_id
  LEFT JOIN "{t['agency']}" ca ON ca.id = cs.agency_id
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


#: The statement's name in each PostgreSQL session, and the sessions that have it.
STATEMENT = "motcua_public_track"
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _load(code: str, phone: str) -> _Row | None:
    """The dossier whose code (or provisional code) is ``code`` and phone ``phone`` (both
    clean), with everything the page shows. On PostgreSQL one query, a statement prepared
    once per database session: planning this query costs several times its execution, and a
    prepared statement is planned once (sessions live ``CONN_MAX_AGE``; a pooler in
    transaction mode would need ``max_prepared_statements``). Elsewhere (the SQLite demo)
    the ORM, in five queries."""
    if connection.vendor != "postgresql":
        return _load_portable(code, phone)
    connection.ensure_connection()
    session = connection.connection
    with connection.cursor() as cursor:
        if session not in _prepared:
            # Session-wide, not undone by a rollback: prepared once per connection.
            cursor.execute(f"PREPARE {STATEMENT}(text, text) AS {_sql()}")
            _prepared[session] = True
        cursor.execute(f"EXECUTE {STATEMENT}(%s, %s)", [code, phone])
        row = cursor.fetchone()
    if row is None:
        return None
    (code, channel, state, outcome, submitted_at, received_at, due_at, original_due_at,
     result_ready_at, returned_at, procedure_code, procedure_name, a_name, a_address, a_phone,
     step_name, step_unit, s_agency, s_address, s_phone, events, fees, rated, paid) = row
    events = json.loads(events) if isinstance(events, str) else events
    fees = json.loads(fees) if isinstance(fees, str) else fees
    return _Row(
        code=code, channel=channel, state=state, outcome=outcome or "",
        submitted_at=submitted_at, received_at=received_at, due_at=due_at,
        original_due_at=original_due_at, result_ready_at=result_ready_at,
        returned_at=returned_at, procedure_code=procedure_code, procedure_name=procedure_name,
        agency=_place("", a_name, a_address, a_phone),
        step_name=step_name or "", step_unit=step_unit or "",
        step_agency=_place(step_unit, s_agency, s_address, s_phone) if s_agency else None,
        events=[
            _Event(
                at=parse_datetime(e["at"]), transition=e["transition"],
                from_state=e["from_state"] or "", to_state=e["to_state"] or "",
                data=e["data"] if isinstance(e["data"], dict) else {},
                step_name=e["step_name"] or "", unit=e["unit"] or "",
            )
            for e in events
        ],
        fees=list(fees), rated=bool(rated), paid_vnd=int(paid) if paid else None,
    )


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
    apologies = [_apology(e) for e in row.events if e.transition == EventKind.APOLOGY]
    state = row.state
    return Tracking(
        code=row.code,
        procedure_code=row.procedure_code,
        procedure_name=row.procedure_name,
        agency=row.agency,
        channel=row.channel,
        channel_label=str(Channel(row.channel).label) if row.channel in Channel.values else "",
        state=state,
        state_label=str(State(state).label),
        state_text=_state_text(row),
        submitted_at=row.submitted_at,
        received_at=row.received_at,
        due_at=row.due_at,
        original_due_at=row.original_due_at if apologies else None,
        result_ready_at=row.result_ready_at,
        returned_at=row.returned_at,
        outcome=row.outcome,
        outcome_label=str(Outcome(row.outcome).label) if row.outcome in Outcome.values else "",
        current_step=row.step_name if state != State.RESULT_READY else "",
        current_unit=row.step_unit,
        apologies=apologies,
        timeline=[item for item in map(_describe, row.events) if item is not None],
        next_step=_next_step(row),
        fees=_fees(row),
    )


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


def _describe(event: _Event) -> TimelineItem | None:
    """The event in plain words, or ``None`` for what is internal (assignments, files) or
    unknown. Comments are never shown: only what the services record for the citizen (the
    reasons of a refusal or denial, the documents to supplement, the legal basis of a stop —
    the same words as the slips he is given)."""
    kind, data = event.transition, event.data
    details: list[str] = []
    reaches_result = event.to_state == State.RESULT_READY and event.from_state != State.RESULT_READY
    if kind == EventKind.SUBMIT:
        title = _("Nộp hồ sơ trực tuyến")
    elif kind == Transition.RECEIVE:
        title = _("Hồ sơ được tiếp nhận")
    elif kind == Transition.REFUSE:
        title = _("Hồ sơ không được tiếp nhận")
        details = _reasons(data.get("reasons"))
    elif kind == Transition.START:
        title = _("Chuyển hồ sơ đến đơn vị giải quyết")
        details = _next_name(data)
    elif kind == Transition.REQUEST_SUPPLEMENT:
        title = _("Yêu cầu bổ sung hồ sơ")
        details = [_("Cần bổ sung: %(doc)s") % {"doc": d} for d in _lines(data.get("missing_documents"))]
        details += _reasons(data.get("reasons"))
    elif kind == Transition.SUPPLEMENT:
        title = _("Đã nhận hồ sơ bổ sung, tiếp tục giải quyết")
    elif kind == Transition.SUBMIT_FOR_APPROVAL:
        title = _("Trình lãnh đạo phê duyệt")
    elif kind == Transition.DENY:
        title = _("Có văn bản trả lời: từ chối giải quyết")
        details = _reasons(data.get("reasons"))
    elif kind in (Transition.APPROVE, Transition.FORWARD) and reaches_result:
        title = _("Đã có kết quả, chuyển về nơi trả kết quả")
    elif kind == Transition.APPROVE:
        title = _("Lãnh đạo đã phê duyệt")
        details = _next_name(data)
    elif kind == Transition.FORWARD:
        title = (
            _("Hoàn thành bước “%(step)s”") % {"step": event.step_name} if event.step_name
            else _("Chuyển bước xử lý")
        )
        details = _next_name(data)
    elif kind == Transition.SEND_BACK:
        title = _("Hồ sơ được chuyển lại để hoàn thiện")
    elif kind == Transition.RETURN_RESULT:
        title = _("Đã trả kết quả")
    elif kind == Transition.WITHDRAW:
        title = _("Rút hồ sơ theo yêu cầu của công dân")
        details = _reasons(data.get("reason"))
    elif kind == Transition.STOP:
        title = _("Dừng giải quyết hồ sơ")
        details = [_("Căn cứ: %(basis)s") % {"basis": r} for r in _lines(data.get("legal_basis"))]
    elif kind == EventKind.APOLOGY:
        title = _("Văn bản xin lỗi và hẹn lại ngày trả kết quả")
        new_due = _moment(data.get("new_due_at"))
        if new_due:
            details.append(_("Hẹn trả mới: %(when)s") % {"when": _when(new_due)})
        details += _reasons(data.get("reason"))
    else:
        return None
    return TimelineItem(at=event.at, event=kind, title=title, unit=event.unit, details=details)


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
    """The rating page for ``code`` if the ratings part is installed, else ``""``."""
    path = _rate_path(get_script_prefix())
    return f"{path}?{urlencode({'ma': code})}" if path else ""


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
        from rest_framework.settings import api_settings

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
