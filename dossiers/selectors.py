"""Reads of dossiers that more than one caller needs (API, staff screens, PDFs). Query counts do
not grow with the rows: lists use ``select_related`` only, details prefetch."""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Hashable
from dataclasses import dataclass, field, replace

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Lower, Reverse
from django.db.models.lookups import Contains, StartsWith
from django.http import Http404

from dossiers import permissions
from dossiers.models import (
    OPEN_STATES,
    Attachment,
    Dossier,
    DossierDocument,
    DossierEvent,
    DossierStep,
    State,
)
from motcua.models import Role, Unit
from motcua.text import fold
from procedures.models import Procedure, ProcedureVersion, ProcessStep

__all__ = [
    "DossierFilters",
    "dossier_get",
    "dossier_queue",
    "dossier_queue_counts",
    "dossier_queue_parts",
    "dossier_queue_pieces",
    "dossier_queue_procedures",
    "dossier_rows",
    "dossier_search",
    "dossier_timeline",
    "dossier_visible_to",
    "is_word_search",
    "queue_order",
    "queue_page",
    "queue_walk",
    "QueuePart",
]

_DIGITS = re.compile(r"^\+?[\d\s.\-]+$")
# A whole official code (<agency code>-<yymmdd>-<nnnn>) or provisional one (TT-<yymmdd>-<8>).
_CODE = re.compile(r"^(?:[0-9A-Z][0-9A-Z.]*-\d{6}-\d{4,}|TT-\d{6}-[0-9A-Z]{8})$")
ORDERINGS = {
    "due": ("due_at", "id"),
    "-due": ("-due_at", "-id"),
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
}


@dataclass
class DossierFilters:
    """What a list can be narrowed by. ``unit`` is a unit id; ``procedure`` a procedure code;
    ``q`` matches the code, the applicant's name (diacritics ignored), ID number or phone."""

    state: list[str] | str | None = None
    overdue: bool | None = None
    due_soon: bool | None = None
    unit: int | None = None
    procedure: str | None = None
    agency: str | None = None
    q: str = ""
    ordering: str | None = None
    to_assign: bool = False
    _version_ids: list[int] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def of(cls, filters) -> DossierFilters:
        if filters is None:
            return cls()
        if isinstance(filters, cls):
            return filters
        return cls(**{k: v for k, v in dict(filters).items() if v not in (None, "")})

    def procedure_version_ids(self) -> list[int]:
        """The ids of every version of ``procedure`` (one query, once per filters object: each
        part of a queue asks). Literal ids, not a join to the catalogue: with them PostgreSQL
        knows how many dossiers the procedure has (most of a queue, for a common one) and
        reads the queue in its index order until a page is full, instead of collecting every
        row of the procedure by bitmap and sorting them."""
        if self._version_ids is None:
            self._version_ids = list(
                ProcedureVersion.objects.filter(procedure__code=self.procedure)
                .order_by("pk").values_list("pk", flat=True)
            )
        return self._version_ids


def _list_qs() -> QuerySet[Dossier]:
    return Dossier.objects.select_related(
        "procedure_version__procedure", "agency", "current_unit", "current_handler",
    )


def dossier_visible_to(user) -> QuerySet[Dossier]:
    """Every dossier ``user`` may see; anything else answers 404 (not 403), so that staff of
    other units cannot even learn that a code exists."""
    q = permissions.visible_filter(user)
    qs = _list_qs()
    return qs if q is None else qs.filter(q)


def _apply(qs: QuerySet[Dossier], f: DossierFilters, *, default: str) -> QuerySet[Dossier]:
    if f.state:
        states = [f.state] if isinstance(f.state, str) else list(f.state)
        qs = qs.filter(state__in=[s for s in states if s in State.values])
    if f.overdue is not None:
        qs = qs.filter(is_overdue=bool(f.overdue))
    if f.due_soon is not None:
        qs = qs.filter(is_due_soon=bool(f.due_soon))
    if f.unit:
        qs = qs.filter(current_unit_id=f.unit)
    if f.procedure:
        qs = qs.filter(procedure_version_id__in=f.procedure_version_ids())
    if f.agency:
        qs = qs.filter(agency__code=f.agency)
    q = (f.q or "").strip()
    if q:
        qs = qs.filter(_search(q))
    return qs.order_by(*ORDERINGS.get(f.ordering or default, ORDERINGS[default]))


class SearchText(Func):
    """What ``?q=`` searches, as one expression: the folded applicant name, phone, ID number and
    the (lower-cased) code and provisional code, separated by spaces.

    One expression so that one trigram index (``dossier_search_trgm_idx``, migration
    ``dossiers/0005_queue_search``) answers every kind of search. The SQL it renders must stay
    the expression of that index word for word, else PostgreSQL stops using the index
    (``tests/test_queue_performance.py`` checks the plan).
    """

    template = "(%(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = TextField()

    def __init__(self):
        super().__init__(
            F("applicant_name_folded"), F("applicant_phone"), F("applicant_id_number"),
            Lower("code"), Lower(Coalesce("provisional_code", Value(""))),
        )


def _all_contained(words: list[str]) -> Q:
    condition = Q()
    for word in words:
        condition &= Q(Contains(SearchText(), word))
    return condition


def _search(q: str) -> Q:
    """Every word of ``q`` (diacritics and case ignored) appears in the dossier's search text:
    the code or a part of it, the applicant's name, ID number or phone. A query of digits only
    is also read as one number in any spelling (+84, spaces, dots: ``0912 345 678``).

    A run of digits (a part of a phone or ID number) is found anywhere in an open dossier, and
    at the end of the phone or ID number of any dossier, closed ones included.

    Exact shortcuts, which find the same dossiers through their own indexes: a whole dossier
    code, a whole mobile number (10 digits from 0), a whole citizen ID number (12 digits) — no
    code holds such a run of digits, and no stored phone or ID number is longer.
    Over ten million dossiers the trigram index cannot narrow those (every code shares the
    agency's and the day's trigrams, every number the common digit trigrams): 28 s, against a
    few milliseconds by equality (docs/bulk-data.md "Ten million dossiers")."""
    code = q.strip().upper()
    if _CODE.match(code):
        return Q(code=code) | Q(provisional_code=code)
    digits = re.sub(r"\D", "", q) if _DIGITS.match(q) else ""
    if q.startswith("+84") or (digits.startswith("84") and len(digits) == 11):
        digits = "0" + digits[2:]
    if len(digits) == 10 and digits.startswith("0"):  # a whole mobile number (as stored)
        return Q(applicant_phone=digits)
    if len(digits) == 12:  # a whole citizen ID number (CCCD)
        return Q(applicant_id_number=digits)
    condition = _all_contained(fold(q).split())
    if digits and [digits] != fold(q).split():
        condition |= _all_contained([digits])
    if digits:
        # A part of a number: found anywhere in an open dossier (the trigram index holds the
        # open ones), and at the end of the phone or ID number of any dossier ("the last six
        # digits"), closed ones included, through the suffix indexes (migration 0012).
        # Every branch has an index: without them, a closed dossier's search text was read
        # row by row, 9.3 s over ten million dossiers.
        condition = (
            (Q(state__in=OPEN_STATES) & condition)
            | Q(StartsWith(Reverse("applicant_phone"), digits[::-1]))
            | Q(StartsWith(Reverse("applicant_id_number"), digits[::-1]))
        )
    return condition


def is_word_search(q: str) -> bool:
    """Whether ``q`` is a search by words: a name, or part of one (it has letters, and is not a
    whole dossier code). A whole code, mobile or ID number has its own index; digits alone (a
    part of a phone or ID number, of a code) are left to the trigram index, where such a part
    is rarely common (``queue_walk`` is for the common names)."""
    q = (q or "").strip()
    return bool(q) and any(ch.isalpha() for ch in q) and not _CODE.match(q.upper())


class RowCompare(Func):
    """``(a, b) < (x, y)``: a row comparison. PostgreSQL reads it as one range of a btree index
    on (a, b) in that order; the same condition written as an OR of column comparisons is not
    an index range (it reads every matching row and sorts them)."""

    output_field = BooleanField()

    def __init__(self, columns, values, op: str):
        if op not in ("<", ">") or len(columns) != len(values):
            raise ValueError("RowCompare: two rows of the same width, compared by < or >.")
        self.op, self.width = op, len(columns)
        super().__init__(*columns, *values)

    def as_sql(self, compiler, connection, **extra_context):
        compiled = [compiler.compile(e) for e in self.get_source_expressions()]
        left = ", ".join(sql for sql, _params in compiled[: self.width])
        right = ", ".join(sql for sql, _params in compiled[self.width:])
        return f"({left}) {self.op} ({right})", [p for _sql, params in compiled for p in params]


def ordering_of(qs: QuerySet[Dossier]) -> str | None:
    """The name in :data:`ORDERINGS` of the order ``qs`` is sorted by, or None."""
    order = tuple(qs.query.order_by)
    return next((name for name, fields in ORDERINGS.items() if fields == order), None)


def dossiers_after(qs: QuerySet[Dossier], *, ordering: str, value, pk: int) -> QuerySet[Dossier]:
    """The rows of ``qs`` (sorted by ``ORDERINGS[ordering]``) that come after the row whose
    sort value is ``value`` and id ``pk``: keyset pagination. Every page then costs what the
    first one does, at any depth (``OFFSET`` reads and drops every row before the page).

    Each order is (column, id), id unique, so "after" is exact even among thousands of
    dossiers sharing an appointment. An appointment may be empty (online submissions): the
    database sorts NULL as larger than any value (PostgreSQL) or smaller (SQLite), and the
    condition follows the database's own order."""
    column, _id = ORDERINGS[ordering]
    descending = column.startswith("-")
    name = column.lstrip("-")
    op = "<" if descending else ">"
    nulls_after = connections[qs.db].features.nulls_order_largest != descending
    if value is None:
        condition = Q(**{f"{name}__isnull": True, f"pk__{'lt' if descending else 'gt'}": pk})
        if not nulls_after:
            condition |= Q(**{f"{name}__isnull": False})
    else:
        field = Dossier._meta.get_field(name)
        condition = Q(RowCompare([F(name), F("id")], [Value(value, output_field=field), Value(pk)], op))
        if nulls_after:
            condition |= Q(**{f"{name}__isnull": True})
    return qs.filter(condition)


def dossier_search(*, user, filters=None) -> QuerySet[Dossier]:
    """The dossiers ``user`` may see, filtered (the API list; newest first by default)."""
    f = DossierFilters.of(filters)
    return _apply(dossier_visible_to(user), f, default="newest")


def dossier_queue(*, user, filters=None) -> QuerySet[Dossier]:
    """The open dossiers waiting for ``user``: at a step held in their unit with that step's
    role, plus, for clerks, the desk's work (online submissions to check, received dossiers to
    hand over, supplements awaited, results to hand back), plus, for officers, the dossiers
    received at the desk whose first processing step is theirs (they may ``start`` them,
    ``permissions.can_start``). Soonest appointment first unless ``ordering`` says otherwise.
    ``to_assign`` (leaders): officer steps with nobody assigned.

    One queryset (the API, the xlsx export). A page of the staff queue reads the same rows as
    :func:`dossier_queue_pieces`, each piece one index range."""
    f = DossierFilters.of(filters)
    waiting = permissions.queue_filter(user, to_assign=f.to_assign)
    received = None if f.to_assign else _received_for_first_step(user)
    if received is not None:
        waiting |= received.condition
    qs = _list_qs().filter(state__in=OPEN_STATES).filter(waiting)
    return _apply(qs, f, default="due")


def dossier_queue_parts(*, user, filters=None) -> list[QuerySet[Dossier]]:
    """:func:`dossier_queue` as disjoint parts whose union is the queue, each filtered and
    ordered alike: the dossiers at the user's steps and desks (``permissions.queue_filter``),
    then the received dossiers waiting for the user's first step that are not already there.

    Why parts: the two conditions run on different indexes (the current role's, and the
    received dossiers'); OR-ed together PostgreSQL can follow neither in order and reads the
    whole queue for one page (docs/queue-performance.md). A count adds the parts' counts (a
    capped count needs no order); a page reads :func:`dossier_queue_pieces`."""
    f = DossierFilters.of(filters)
    base = _list_qs().filter(state__in=OPEN_STATES)
    waiting = permissions.queue_filter(user, to_assign=f.to_assign)
    parts = [_apply(base.filter(waiting), f, default="due")]
    if not _with_received(f):
        return parts
    received = _received_for_first_step(user)
    if received is not None:
        parts.append(_apply(base.filter(received.condition).exclude(waiting), f, default="due"))
    return parts


@dataclass(frozen=True)
class QueuePart:
    """A part of a list: ``queryset`` (filtered and ordered) and, when ``unit_field`` is set,
    that field in ``units`` — a condition left out of the queryset, so that a page can read
    the part one unit at a time (:func:`queue_page`); with ``states``, one unit and one state
    at a time (``state`` in ``states`` stays in the queryset too)."""

    queryset: QuerySet[Dossier]
    unit_field: str | None = None
    units: tuple[int, ...] = ()
    states: tuple[str, ...] | None = None

    def filter(self, *args, states: list[str] | None = None, **kwargs) -> QueuePart:
        """The part narrowed by a condition; ``states``: the states that condition allows."""
        narrowed = replace(self, queryset=self.queryset.filter(*args, **kwargs))
        if states is not None and self.states is not None:
            narrowed = replace(narrowed, states=tuple(s for s in self.states if s in states))
        return narrowed

    @property
    def whole(self) -> QuerySet[Dossier]:
        """The part as one queryset (``unit_field IN units``)."""
        qs = self.queryset
        if self.unit_field is not None:
            qs = qs.filter(**{f"{self.unit_field}__in": self.units})
        if self.states is not None:
            qs = qs.filter(state__in=self.states)
        return qs


def dossier_queue_pieces(*, user, filters=None) -> list[QueuePart]:
    """The rows of :func:`dossier_queue_parts` as disjoint pieces for a page to merge.

    In appointment order each piece keeps its units apart (``QueuePart.unit_field``): the
    steps of each role the user holds (``permissions.queue_pieces``; read per unit and
    state, ``dossier_open_unit_state_due_idx``, migration 0010), the desk's work not already
    among them, the received dossiers waiting for the user's first step (per unit,
    ``dossier_received_unit_due_idx``, 0007). Each is an index range in appointment order;
    ``current_unit_id IN (18 units)`` is in no index's order, and PostgreSQL read through the
    other units' rows, or all of them, for a page (docs/queue-performance.md, round 3).

    Other orders (newest first), searches and a procedure: :func:`dossier_queue_parts` as they
    are. No index orders a unit's rows by date of creation; a search or a procedure narrows
    the rows through its own index, once (per unit: once per unit, or every unit's rows read
    for the few of one procedure)."""
    f = DossierFilters.of(filters)
    if (f.ordering or "due") not in ("due", "-due") or (f.q or "").strip() or f.procedure:
        return [QueuePart(part) for part in dossier_queue_parts(user=user, filters=f)]
    base = _list_qs().filter(state__in=OPEN_STATES)
    wanted = [f.state] if isinstance(f.state, str) else list(f.state or OPEN_STATES)
    states = tuple(s for s in OPEN_STATES if s in wanted)
    pieces = permissions.queue_pieces(user, to_assign=f.to_assign)
    received = _received_for_first_step(user) if _with_received(f) else None
    if received is not None:
        waiting = permissions.queue_filter(user)
        pieces.append(replace(received, where=received.where & ~waiting))
    out = []
    for piece in pieces:
        qs = _apply(base.filter(piece.where), f, default="due")
        if piece.unit_field == "current_unit_id":
            if states:
                out.append(QueuePart(qs, piece.unit_field, piece.units, states))
        elif piece.unit_field is not None:
            out.append(QueuePart(qs, piece.unit_field, piece.units))
        else:
            out.append(QueuePart(qs))
    return out


def _with_received(f: DossierFilters) -> bool:
    """Whether the list can hold received dossiers waiting for the first step's officers."""
    states = [f.state] if isinstance(f.state, str) else list(f.state or [])
    return not f.to_assign and (not states or State.RECEIVED in states)


def queue_order(filters=None) -> tuple[str, ...]:
    """The fields a queue is ordered by (``-`` = descending), as :func:`dossier_queue`."""
    f = DossierFilters.of(filters)
    return ORDERINGS.get(f.ordering or "due", ORDERINGS["due"])


#: The aliases of the unit and the state a per-unit read is at (``queue_page``).
_UNIT, _STATE = "queue_unit", "queue_state"


def queue_page(groups: list[list[QueuePart]], *, order: tuple[str, ...], start: int,
               stop: int) -> list[Dossier]:
    """Rows ``start:stop`` of disjoint parts ordered alike (each by ``order``), merged in that
    order, with what a list row shows. ``groups``: the parts in groups whose rows all come
    after the rows of the group before in that order (the overdue list in appointment order:
    passed appointments, then the flagged ones due later), else one group of all the parts.

    - One part read whole: its own slice, one query.
    - Parts read per unit (``QueuePart.unit_field``, PostgreSQL): one statement whatever the
      parts and their units, :func:`_page_per_unit`.
    - Otherwise: each part's first ``stop`` keys (one query each, bounded by the first part's
      last key), merged, then the page's rows by id.
    """
    parts = [part for group in groups for part in group]
    if stop <= start or not parts:
        return []
    if len(parts) == 1 and parts[0].unit_field is None:
        return list(parts[0].queryset[start:stop])
    db = parts[0].queryset.db
    if any(p.unit_field for p in parts) and connections[db].vendor == "postgresql":
        return _page_per_unit(groups, order=order, start=start, stop=stop)
    return _page_merged(parts, order=order, start=start, stop=stop)


def _merge_key(row: tuple) -> tuple:
    """The sort key of a ``(pk, *keys)`` row: NULLs last ascending and first descending, as in
    PostgreSQL."""
    return tuple((value is None, value if value is not None else 0) for value in row[1:])


def _page_merged(parts: list[QueuePart], *, order: tuple[str, ...], start: int,
                 stop: int) -> list[Dossier]:
    fields = [name.lstrip("-") for name in order]
    descending = order[0].startswith("-")

    first = parts[0].whole
    heads = [list(first.values_list("pk", *fields)[:stop])]
    for part in parts[1:]:
        qs = part.whole
        if len(heads[0]) == stop and heads[0][-1][1] is not None:
            # Rows after the first part's last one cannot be on this page: a bound that
            # lets the other parts stop early instead of reading all their rows.
            lookup = f"{fields[0]}__{'gte' if descending else 'lte'}"
            qs = qs.filter(**{lookup: heads[0][-1][1]})
        heads.append(list(qs.values_list("pk", *fields)[:stop]))
    merged = heapq.merge(*heads, key=_merge_key, reverse=descending)
    ids = [row[0] for row in itertools.islice(merged, start, stop)]
    if not ids:
        return []
    by_id = {d.pk: d for d in dossier_rows(ids=ids)}
    return [by_id[pk] for pk in ids if pk in by_id]


def _page_per_unit(groups: list[list[QueuePart]], *, order: tuple[str, ...], start: int,
                   stop: int) -> list[Dossier]:
    """The page in one statement (PostgreSQL):

    - a part read per unit is ``unnest(units)`` (and ``unnest(states)``) and, for each unit
      (and state), its first ``stop`` rows (``CROSS JOIN LATERAL``): one ordered index range
      each, ``stop`` rows at most;
    - the parts of a group are merged (``UNION ALL … ORDER BY … LIMIT stop``); a later group
      is read only for the rows the groups before it lack (``LIMIT stop - rows before``:
      at ``LIMIT 0`` PostgreSQL does not run it);
    - the page's rows are read by the ids of ``ORDER BY … LIMIT … OFFSET start``.

    Why not ``UNION ALL`` of one ordinary subquery per unit: the same rows, but planned once
    per unit — 25–55 ms of planning for 36 subqueries, against ~1 ms for a ``LATERAL``
    (docs/queue-performance.md, round 3).
    """
    fields = [name.lstrip("-") for name in order]
    keys = [f"k{i}" for i in range(len(fields))]
    columns = ", ".join(["pk", *keys])
    by = ", ".join(f"{key} {'DESC' if name.startswith('-') else 'ASC'}"
                   for key, name in zip(keys, order, strict=True))
    ctes, params = [], []
    for group in groups:
        branches = []
        for part in group:
            qs = part.queryset
            if part.unit_field is not None:
                qs = qs.filter(**{part.unit_field: RawSQL(f'"{_UNIT}"."id"', ())})
            if part.states is not None:
                if not part.states:  # narrowed to no state at all
                    continue
                qs = qs.filter(state=RawSQL(f'"{_STATE}"."state"', ()))
            try:
                sql, sub_params = qs.values_list("pk", *fields)[:stop].query.sql_with_params()
            except EmptyResultSet:  # a part that cannot hold a row (a filter on an empty list)
                continue
            if part.unit_field is not None:
                each = [f'unnest(%s::bigint[]) AS "{_UNIT}"(id)']
                params.append(list(part.units))
                if part.states is not None:
                    each.append(f'unnest(%s::text[]) AS "{_STATE}"(state)')
                    params.append(list(part.states))
                branches.append(f"SELECT h.* FROM {' CROSS JOIN '.join(each)} "
                                f"CROSS JOIN LATERAL ({sql}) AS h({columns})")
                params += list(sub_params)
            else:
                branches.append(f"SELECT h.* FROM ({sql}) AS h({columns})")
                params += list(sub_params)
        if not branches:
            continue
        limit = str(int(stop))
        if ctes:
            before = " UNION ALL ".join(f"SELECT pk FROM g{i}" for i in range(len(ctes)))
            limit = f"(SELECT {int(stop)} - COUNT(*) FROM ({before}) AS earlier)"
        ctes.append(f"g{len(ctes)} AS MATERIALIZED (SELECT * FROM ({' UNION ALL '.join(branches)}) "
                    f"AS g ORDER BY {by} LIMIT {limit})")
    if not ctes:
        return []
    every = " UNION ALL ".join(f"SELECT * FROM g{i}" for i in range(len(ctes)))
    heads = (f"WITH {', '.join(ctes)} SELECT pk FROM ({every}) AS heads "
             f"ORDER BY {by} LIMIT {int(stop - start)} OFFSET {int(start)}")
    # (The estimate of a deep page, 18 units × ``stop`` rows, passes jit_above_cost: the
    # connections run with JIT off, motcua/settings.py.)
    return list(_list_qs().filter(pk__in=RawSQL(heads, params)).order_by(*order))


@dataclass
class Walk:
    """A page found by :func:`queue_walk`: its rows, and the list's total — exact, or a lower
    bound ("more than ``count``") when rows remain beyond the page."""

    rows: list[Dossier]
    count: int
    exact: bool


#: Rows of a part a walk may read before giving up (``queue_walk``): at least
#: ``WALK_BUDGET``, else ``WALK_ROWS_PER_ROW`` per row wanted — a word in one row out of 60
#: is settled by the walk; a rarer one by its index (a failed walk costs ~15 ms at 10M).
WALK_BUDGET = 3000
WALK_ROWS_PER_ROW = 60


def queue_walk(parts: list[QuerySet[Dossier]], q: str, *, order: tuple[str, ...],
               start: int, stop: int) -> Walk | None:
    """Rows ``start:stop`` of the disjoint ``parts`` (each ordered by ``order``, without the
    search) that match the search ``q`` (by words: :func:`is_word_search`), read by walking
    each part in that order and testing each row — or ``None`` when a part's first rows (a
    budget growing with ``stop``) do not settle the page: the condition is rare, and its own
    index (the trigram bitmap) is the way. PostgreSQL only (``None`` elsewhere: the demo's
    SQLite searches its few rows as before).

    Why: a search by a common name (``?q=nguyen hoang``) matches tens of thousands of open
    dossiers. Through the trigram bitmap each statement read and re-checked all of them, the
    page's two parts and their two counts: 570 ms at ten million dossiers. Walking officer1's
    queue in appointment order finds a page's 21 matches within ~1,100 rows: 3 ms
    (docs/queue-performance.md, "Searching by a common name").

    Each part is one statement: its rows in order without the condition (the part's usual
    plan, an index range), at most the budget, materialised as they are pulled; the first
    ``stop`` that meet the condition; and only when there are not that many, how many rows
    were read (``UNION ALL`` under one ``LIMIT``: the count runs only if needed). A later part
    is read only up to the first part's last row when that part filled the page. The total is
    exact when every part was read to its end; otherwise the page says "more than". Order by
    appointment only (an index walks a part in that order)."""
    if (not parts or order[0].lstrip("-") != "due_at" or stop <= start
            or connections[parts[0].db].vendor != "postgresql"):
        return None
    budget = max(WALK_BUDGET, WALK_ROWS_PER_ROW * stop, 1)
    fields = [name.lstrip("-") for name in order]
    descending = order[0].startswith("-")
    hit = ExpressionWrapper(_search(q), output_field=BooleanField())
    keys = ", ".join(f"k{i}" for i in range(len(fields)))
    nulls = ", ".join("NULL" for _ in fields)
    heads, exact, total, bound = [], True, 0, None
    for part in parts:
        qs = part
        if bound is not None:
            qs = qs.filter(**{f"{fields[0]}__{'gte' if descending else 'lte'}": bound})
        walked = qs.annotate(walk_hit=hit).values_list("pk", *fields, "walk_hit")[:budget]
        try:
            sql, params = walked.query.sql_with_params()
        except EmptyResultSet:  # a part that cannot hold a row
            continue
        statement = (
            f"WITH walk AS MATERIALIZED ({sql}) "
            f"(SELECT pk, {keys}, NULL::bigint FROM walk AS w(pk, {keys}, hit) WHERE hit "
            f"LIMIT {int(stop)}) "
            f"UNION ALL (SELECT NULL, {nulls}, COUNT(*) FROM walk) LIMIT {int(stop)}"
        )
        with connections[part.db].cursor() as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall()
        found = [row[:-1] for row in rows if row[0] is not None]
        read = next((row[-1] for row in rows if row[0] is None), None)
        if len(found) < stop and read is not None and read >= budget:
            return None  # the budget ran out before the page was settled: a rare condition
        if len(found) >= stop or bound is not None:
            exact = False  # rows may follow the page (or the bound)
        total += len(found)
        heads.append(found)
        if bound is None and len(found) >= stop and found[-1][1] is not None:
            # Rows of the later parts after this one's last cannot be on the page.
            bound = found[-1][1]
    merged = list(itertools.islice(heapq.merge(*heads, key=_merge_key, reverse=descending),
                                   start, stop))
    by_id = {d.pk: d for d in dossier_rows(ids=[row[0] for row in merged])}
    page = [by_id[row[0]] for row in merged if row[0] in by_id]
    # Not exact: at least ``stop`` rows exist (a part filled the page), "more than stop - 1".
    return Walk(page, total, True) if exact else Walk(page, stop - 1, False)


def _received_for_first_step(user) -> permissions.QueuePiece | None:
    """Received dossiers whose first processing step (the step after the desk's reception
    step, as ``Plan.first_processing``) is an officer step of one of ``user``'s officer units.

    The desk hands a dossier over with ``start``; the officer of that first step may take it
    himself (``permissions.can_start``), so it waits in his queue too. Reception writes that
    unit on the dossier (``first_officer_unit``): this part of the queue is then a range of
    ``dossier_received_unit_due_idx`` (migration 0007) per unit instead of a probe of the
    steps of every received dossier of the province.
    """
    staff = permissions.staff_of(user)
    units = staff.units_for(Role.OFFICER)
    if staff.superuser or not units:
        return None
    return permissions.QueuePiece(
        Q(state=State.RECEIVED), "first_officer_unit_id", tuple(sorted(units)))


def dossier_queue_counts(*, user, cap: int, to_assign: bool = False) -> dict[str, int]:
    """How many dossiers wait for ``user`` in each open state (and, with ``to_assign``, how
    many officer steps of their agencies wait for an assignment, under ``"to_assign"``), each
    counted up to ``cap + 1`` only: a count above ``cap`` reads "more than ``cap``".

    One query, whatever the size of the queue: each count reads at most ``cap + 1`` index
    entries of one part (:func:`dossier_queue_parts`) instead of the whole queue.
    """
    parts: dict[tuple[str, int], QuerySet] = {}
    for state in OPEN_STATES:
        for index, part in enumerate(
            dossier_queue_parts(user=user, filters=DossierFilters(state=state))
        ):
            parts[(state, index)] = part
    if to_assign:
        parts[("to_assign", 0)] = dossier_queue(
            user=user, filters=DossierFilters(to_assign=True)
        )
    counts: dict[str, int] = {}
    for (key, _index), n in capped_counts(parts, cap=cap).items():
        counts[key] = min(counts.get(key, 0) + n, cap + 1)
    return counts


def capped_counts(querysets: dict[Hashable, QuerySet], *, cap: int) -> dict[Hashable, int]:
    """``{key: min(rows, cap + 1)}`` for several querysets of one database, in one query
    (``SELECT (SELECT COUNT(*) FROM (… LIMIT cap + 1)), …``)."""
    if not querysets:
        return {}
    selects, params, using = [], [], None
    for index, qs in enumerate(querysets.values()):
        using = qs.db
        sub = qs.order_by().values("pk")[: cap + 1]
        try:
            sql, sub_params = sub.query.sql_with_params()
        except EmptyResultSet:  # e.g. a filter on an empty list: nothing to count
            selects.append("0")
            continue
        selects.append(f"(SELECT COUNT(*) FROM ({sql}) AS capped_{index})")
        params.extend(sub_params)
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(selects), params)
        row = cursor.fetchone()
    return dict(zip(querysets, (int(n) for n in row), strict=True))


def dossier_queue_procedures(*, user) -> list[tuple[str, str]]:
    """The procedures (code, current name) that can appear in ``user``'s queue, from the
    catalogue alone: those whose internal process (any version) has a step of a role the user
    holds in a unit of that code and agency (a step naming no agency runs in the receiving
    agency's unit of that code), plus, for the desk, those its agencies receive, and for
    leaders, those with officer steps in their agencies (the "to assign" tab). Everything for a
    superuser or a service center's clerk. Sorted by name.

    The filter's choices without reading the queue: the same answer for an officer of one unit
    and for one of a hundred, in one query. It may offer a procedure with nothing waiting now
    (the filter then shows an empty list); it never leaves out one that has.
    """
    staff = permissions.staff_of(user)
    if staff.user_id is None:
        return []
    procedures = Procedure.objects.filter(current_version__isnull=False)
    if not (staff.superuser or staff.center_clerk):
        steps = Q(pk__in=[])
        for role in (Role.OFFICER, Role.LEADER, Role.CLERK):
            units = staff.units_for(role)
            if not units:
                continue
            same_code = Unit.objects.filter(pk__in=units, code=OuterRef("unit_code"))
            # A step naming no agency runs in the receiving agency: the version's own, or any
            # commune for a commune-level procedure that names none.
            steps |= Q(role=role) & (
                Exists(same_code.filter(agency_id=OuterRef("agency_id")))
                | Q(agency__isnull=True) & (
                    Exists(same_code.filter(agency_id=OuterRef("version__agency_id")))
                    | Q(version__agency__isnull=True) & Exists(same_code)
                )
            )
        leader_agencies = staff.agencies_for(Role.LEADER)
        if leader_agencies:
            steps |= Q(role=Role.OFFICER) & (
                Q(agency_id__in=leader_agencies)
                | Q(agency__isnull=True) & (
                    Q(version__agency_id__in=leader_agencies) | Q(version__agency__isnull=True)
                )
            )
        versions = Q(Exists(ProcessStep.objects.filter(steps, version_id=OuterRef("pk"))))
        if staff.reception_agencies:
            versions |= Q(agency_id__in=staff.reception_agencies) | Q(agency__isnull=True)
        procedures = procedures.filter(
            pk__in=Subquery(ProcedureVersion.objects.filter(versions).values("procedure_id"))
        )
    rows = procedures.values_list("code", "current_version__name")
    return sorted(rows, key=lambda row: (fold(row[1]), row[0]))


def dossier_rows(*, ids: list[int]) -> QuerySet[Dossier]:
    """The dossiers of ``ids`` with what a list row shows (no visibility check: the ids come
    from one of the selectors above)."""
    return _list_qs().filter(pk__in=ids)


def dossier_get(*, code: str, user, details: bool = True) -> Dossier:
    """One dossier by its code (or provisional code) if ``user`` may see it; ``Http404``
    otherwise (unknown and forbidden look the same). ``details``: with steps, documents,
    attachments and events prefetched (what the detail page shows)."""
    code = (code or "").strip()
    qs = dossier_visible_to(user)
    if details:
        qs = _with_details(qs)
    dossier = qs.filter(Q(code=code) | Q(provisional_code=code)).first() if code else None
    if dossier is None:
        raise Http404("Không tìm thấy hồ sơ.")
    return dossier


def _with_details(qs: QuerySet[Dossier]) -> QuerySet[Dossier]:
    return qs.select_related("current_step").prefetch_related(
        Prefetch(
            "steps",
            queryset=DossierStep.objects.select_related("unit", "agency", "handler").order_by(
                "position", "attempt"
            ),
        ),
        Prefetch("documents", queryset=DossierDocument.objects.order_by("position", "id")),
        Prefetch(
            "attachments",
            queryset=Attachment.objects.select_related("uploaded_by").order_by("uploaded_at", "id"),
        ),
        Prefetch("events", queryset=_timeline_qs()),
    )


def _timeline_qs() -> QuerySet[DossierEvent]:
    return DossierEvent.objects.select_related(
        "actor", "step__unit", "step__agency"
    ).order_by("at", "id")


def dossier_timeline(dossier: Dossier) -> QuerySet[DossierEvent]:
    """The dossier's events in order, with actor and step (for the timeline and Mẫu 06)."""
    return _timeline_qs().filter(dossier=dossier)
