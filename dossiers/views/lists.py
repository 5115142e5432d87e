"""Lists of dossiers: the queue (my unit's dossiers at my step, ``dossier_queue``) and the
search (everything I may see, ``dossier_search``); both filter, sort, page by 25, export to
xlsx with the same filters, and the queue acts on several rows at once, each through the
one service, reporting row by row.

Query count does not grow with the rows: the selectors join what a row shows, deadlines are
computed from the office calendar in memory. Nothing reads a whole queue per request either
(docs/queue-performance.md): counts stop at ``COUNT_CAP`` ("more than 1,000"), the procedure
filter's choices come from the catalogue, the tab counts are one query.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from urllib.parse import quote, urlencode

from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.http import RFC3986_SUBDELIMS, url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from audit.models import AccessKind
from audit.services import access_record
from dossiers import permissions
from dossiers.forms import OPEN_STATE_CHOICES, ListFilterForm
from dossiers.models import OPEN_STATES, State, Transition
from dossiers.selectors import (
    DossierFilters,
    QueuePart,
    capped_counts,
    dossier_queue,
    dossier_queue_counts,
    dossier_queue_parts,
    dossier_queue_pieces,
    dossier_queue_procedures,
    dossier_search,
    dossier_visible_to,
    is_word_search,
    queue_order,
    queue_page,
    queue_walk,
)
from dossiers.services import dossier_assign, dossier_transition
from dossiers.templatetags.dossier_screens import (
    STATE_CSS,
    deadline_of,
    due_soon_hours,
    person_name,
)
from dossiers.views._common import SEARCH_ROLES, WORKING_ROLES, staff_required
from motcua import calendar
from motcua.errors import DomainError
from motcua.models import Role, StaffRole
from motcua.permissions import roles_of
from motcua.xlsx import Sheet, xlsx_bytes, xlsx_response
from procedures.selectors import procedure_search

PAGE_SIZE = 25
#: Counts stop here: "hơn 1.000 hồ sơ" is as useful as the exact figure, and costs 1,001 index
#: entries instead of the whole queue.
COUNT_CAP = 1000
#: How long the tab counts and the procedure filter's choices are kept per user.
COUNTS_CACHE_SECONDS = 15
PROCEDURES_CACHE_SECONDS = 60
BULK_MAX = 100
EXPORT_MAX = 50_000
BULK_SESSION_KEY = "dossier_bulk_result"
#: The states whose clock runs: the only ones the due filters show (``_due_conditions``).
RUNNING_STATES = [State.RECEIVED, State.IN_PROGRESS, State.AWAITING_APPROVAL]
#: What ``reverse`` leaves unquoted in a path (its own ``quote`` arguments).
_PATH_SAFE = RFC3986_SUBDELIMS + "/~:@"


@dataclass(frozen=True)
class BulkAction:
    name: str
    label: str
    roles: tuple[str, ...]
    done: str


#: What can be done to several dossiers at once, by whom. Each row goes through
#: ``dossier_transition`` (or ``dossier_assign``) with the version the person saw.
BULK_ACTIONS = [
    # The desk hands over; the officer of the first processing step may also take it himself.
    BulkAction(Transition.START, gettext_lazy("Chuyển xử lý"), (Role.CLERK, Role.OFFICER),
               gettext_lazy("Đã chuyển cho đơn vị xử lý")),
    BulkAction(Transition.RETURN_RESULT, gettext_lazy("Trả kết quả"), (Role.CLERK,),
               gettext_lazy("Đã trả kết quả")),
    BulkAction(Transition.FORWARD, gettext_lazy("Chuyển bước tiếp theo"), (Role.OFFICER,),
               gettext_lazy("Đã chuyển bước tiếp theo")),
    BulkAction(Transition.SUBMIT_FOR_APPROVAL, gettext_lazy("Trình phê duyệt"), (Role.OFFICER,),
               gettext_lazy("Đã trình phê duyệt")),
    BulkAction(Transition.APPROVE, gettext_lazy("Phê duyệt"), (Role.LEADER,),
               gettext_lazy("Đã phê duyệt")),
    BulkAction("assign", gettext_lazy("Phân công cho chuyên viên"), (Role.LEADER,),
               gettext_lazy("Đã phân công")),
]
BULK_BY_NAME = {action.name: action for action in BULK_ACTIONS}


# ---------------------------------------------------------------------------------------------
# Reading the filters and building the list
# ---------------------------------------------------------------------------------------------


@dataclass
class Listing:
    mode: str  # "queue" or "search"
    form: ListFilterForm
    params: dict
    to_assign: bool
    #: One queryset of every row (the export; the search page), else None.
    queryset: object
    #: What a page reads: the disjoint parts of the list, merged (``QueueRows``).
    rows: object = None
    #: A search by words in the queue: ``walk(start, stop)`` tries the page by walking the
    #: queue in order (``selectors.queue_walk``); ``None`` otherwise.
    walk: object = None


def _cache_key(user, what: str) -> str:
    staff = permissions.staff_of(user)
    held = sorted((role, tuple(sorted(units))) for role, units in staff.units.items())
    return f"dossier-queue:{what}:{user.pk}:{hash((staff.superuser, tuple(held)))}"


def _procedure_choices(user, mode: str) -> list[tuple[str, str]]:
    if mode == "queue":
        # The catalogue changes a few times a year: a minute's delay for a new procedure in
        # the filter is nothing, and it saves compiling a query on every click.
        key = _cache_key(user, "procedures")
        choices = cache.get(key)
        if choices is None:
            choices = [(code, _short(name)) for code, name in dossier_queue_procedures(user=user)]
            cache.set(key, choices, PROCEDURES_CACHE_SECONDS)
        return choices
    rows = procedure_search(active_only=False).values_list("procedure__code", "name")
    return [(code, _short(name)) for code, name in rows]


def _short(name: str, limit: int = 90) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _listing(request, mode: str, *, export: bool = False) -> Listing:
    """The filters of the request and what they select: for a page, the rows to merge
    (``rows``); for the export, one queryset (``queryset``)."""
    states = OPEN_STATE_CHOICES if mode == "queue" else State.choices
    form = ListFilterForm(
        request.GET or None, states=states,
        procedures=_procedure_choices(request.user, mode),
        default_sort="due" if mode == "queue" else "newest",
    )
    params = form.values()
    to_assign = mode == "queue" and request.GET.get("tab") == "phan-cong"
    filters = DossierFilters(
        state=params.get("state") or None,
        procedure=params.get("procedure") or None,
        q=params.get("q", ""),
        ordering="newest" if params.get("sort") == "newest" else "due",
        to_assign=to_assign,
    )
    pieces = walk_parts = None
    if mode == "search":
        parts = [dossier_search(user=request.user, filters=filters)]
    elif export:
        parts = [dossier_queue(user=request.user, filters=filters)]
    else:
        parts = dossier_queue_parts(user=request.user, filters=filters)
        pieces = dossier_queue_pieces(user=request.user, filters=filters)
        if is_word_search(filters.q):
            walk_parts = dossier_queue_parts(user=request.user, filters=replace(filters, q=""))
    order = queue_order(filters)
    groups = None
    if params.get("due") and mode == "queue" and not export:
        # Each part split by the due conditions: every piece is one index range.
        conditions = _due_conditions(params["due"])
        parts = [part.filter(c) for part in parts for c in conditions]
        if walk_parts is not None:
            walk_parts = [part.filter(c) for part in walk_parts for c in conditions]
        groups = [[piece.filter(c, states=RUNNING_STATES) for piece in pieces]
                  for c in conditions]
        if order[0] != "due_at":
            # The conditions follow each other in appointment order only.
            groups = [[piece for group in groups for piece in group]]
    elif params.get("due"):
        parts = [_due_filter(part, params["due"]) for part in parts]
    elif pieces is not None:
        groups = [pieces]
    if to_assign:
        params = {**params, "tab": "phan-cong"}
    walk = None
    if walk_parts is not None:
        walk = functools.partial(queue_walk, walk_parts, filters.q, order=order)
    return Listing(mode=mode, form=form, params=params, to_assign=to_assign,
                   queryset=parts[0] if len(parts) == 1 else None,
                   rows=QueueRows(parts, order, groups=groups), walk=walk)


class QueueRows:
    """A list read as disjoint parts, ordered alike: what a paginator counts and slices.

    ``parts`` are counted (a capped count needs no order: one query for all of them);
    ``groups`` (the same rows as ``dossier_queue_pieces``, in groups that follow each other
    in the list's order; by default the parts) are read for a page: one statement whatever
    the pieces and their units (``selectors.queue_page``)."""

    def __init__(self, parts: list, order: tuple[str, ...], *,
                 groups: list[list[QueuePart]] | None = None):
        self.parts = parts
        self.order = order
        self.groups = groups if groups is not None else [[QueuePart(part) for part in parts]]
        #: ``(start, stop, rows)`` of a page already read (``Listing.walk``).
        self.found: tuple[int, int, list] | None = None

    def capped_count(self, cap: int) -> int:
        """``min(rows, cap + 1)``, in one query."""
        counts = capped_counts(dict(enumerate(self.parts)), cap=cap)
        return min(sum(counts.values()), cap + 1)

    def __getitem__(self, item):
        if not isinstance(item, slice):
            raise TypeError("QueueRows only slices")
        start, stop = item.start or 0, item.stop
        if not stop or stop <= start:
            return []
        if self.found is not None and self.found[:2] == (start, stop):
            return self.found[2]
        return queue_page(self.groups, order=self.order, start=start, stop=stop)


def _due_conditions(due: str) -> list[Q]:
    """Overdue / due soon, as the rows show them: the appointment itself, or the sweep's flag
    (which may be set from another threshold, or lag behind by up to one sweep). Dossiers
    waiting for a supplement are paused: neither.

    Disjoint conditions, each one index range (a page reads each in order and merges them,
    the count adds them up): the appointments (``dossier_running_role_due_idx``,
    ``dossier_received_unit_due_idx``), then the flagged rows outside that range
    (``dossier_overdue_idx``, ``dossier_due_soon_idx``). OR-ed together, PostgreSQL reads
    every running dossier of the queue to count the few flagged ones (docs/queue-performance.md).
    A running dossier always has its appointment, so ``NOT overdue`` is ``due_at > now``.

    In appointment order: every row of the first condition comes before every row of the
    second (a page in that order reads the second only for the rows the first lacks).
    """
    now = timezone.now()
    running = Q(state__in=RUNNING_STATES)
    if due == "overdue":
        return [running & Q(due_at__lte=now), running & Q(due_at__gt=now, is_overdue=True)]
    soon_end = calendar.add_working_hours(now, due_soon_hours())
    running &= Q(is_overdue=False)
    return [
        running & Q(due_at__gt=now, due_at__lt=soon_end),
        running & Q(due_at__gte=soon_end, is_due_soon=True),
    ]


def _due_filter(queryset, due: str):
    """``queryset`` narrowed to overdue / due soon (:func:`_due_conditions`), in one query."""
    either = Q()
    for condition in _due_conditions(due):
        either |= condition
    return queryset.filter(either)


def _querystring(params: dict, **overrides) -> str:
    merged = {k: v for k, v in {**params, **overrides}.items() if v not in (None, "")}
    return urlencode(merged)


def _more_than(n: int) -> str:
    return _("hơn %(n)s") % {"n": number_format(n, force_grouping=True)}


def _count_text(n: int) -> str:
    """A capped count for people: ``42``, ``1.000``, ``hơn 1.000``."""
    return _more_than(COUNT_CAP) if n > COUNT_CAP else number_format(n, force_grouping=True)


def _queue_counts(user, listing: Listing) -> dict[str, int]:
    """The tab counts of the queue (one query, each count capped); leaders also get the "to
    assign" count. Kept ``COUNTS_CACHE_SECONDS`` per user: clicking through tabs, filters and
    pages does not count again; the user's own bulk action forgets them (``bulk``)."""
    key = _cache_key(user, "counts")
    counts = cache.get(key)
    if counts is None:
        counts = dossier_queue_counts(
            user=user, cap=COUNT_CAP,
            to_assign=user.is_superuser or Role.LEADER in roles_of(user),
        )
        cache.set(key, counts, COUNTS_CACHE_SECONDS)
    return counts


def _tabs(request, listing: Listing, counts: dict[str, int]) -> list[dict]:
    """Quick filters with their counts (``counts``: ``_queue_counts``)."""
    if listing.mode != "queue":
        return []
    user = request.user
    roles = roles_of(user) if not user.is_superuser else set(WORKING_ROLES)
    base = reverse("dossier-queue")
    current_state = listing.params.get("state", "")
    total = sum(counts.get(state, 0) for state in OPEN_STATES)
    capped = any(counts.get(state, 0) > COUNT_CAP for state in OPEN_STATES)
    tabs = [{
        "label": _("Tất cả"), "url": base,
        "count": _more_than(COUNT_CAP) if capped and total > COUNT_CAP else _count_text(total),
        "current": not current_state and not listing.to_assign,
    }]
    wanted = []
    if Role.CLERK in roles:
        wanted += [State.SUBMITTED, State.RECEIVED, State.SUPPLEMENT_REQUESTED, State.RESULT_READY]
    if Role.OFFICER in roles:
        wanted += [State.RECEIVED, State.IN_PROGRESS]
    if Role.LEADER in roles:
        wanted += [State.AWAITING_APPROVAL]
    labels = {
        State.SUBMITTED: _("Trực tuyến chờ tiếp nhận"),
        # The desk hands these over; an officer of the first step may take them himself.
        State.RECEIVED: _("Chờ chuyển xử lý") if Role.CLERK in roles else _("Mới tiếp nhận"),
        State.SUPPLEMENT_REQUESTED: _("Chờ bổ sung"),
        State.RESULT_READY: _("Chờ trả kết quả"),
        State.IN_PROGRESS: _("Đang xử lý"),
        State.AWAITING_APPROVAL: _("Chờ phê duyệt"),
    }
    for state in dict.fromkeys(wanted):
        tabs.append({
            "label": labels[state], "url": f"{base}?{_querystring({'state': state})}",
            "count": _count_text(counts.get(state, 0)),
            "current": current_state == state and not listing.to_assign,
        })
    if "to_assign" in counts:
        tabs.append({
            "label": _("Chờ phân công"), "url": f"{base}?tab=phan-cong",
            "count": _count_text(counts["to_assign"]), "current": listing.to_assign,
        })
    return tabs


def _known_count(listing: Listing, counts: dict[str, int]) -> tuple[int, bool] | None:
    """The page's total when the tab counts already hold it (no filter but the state or the
    "to assign" tab): ``(rows, exact)``; ``None`` when it must be counted."""
    params = listing.params
    if not counts or any(params.get(k) for k in ("q", "procedure", "due")):
        return None
    if listing.to_assign:
        key = "to_assign"
    elif params.get("state"):
        key = params["state"]
    else:
        parts = [counts.get(state, 0) for state in OPEN_STATES]
        capped = any(n > COUNT_CAP for n in parts)
        return (sum(min(n, COUNT_CAP) for n in parts) if capped else sum(parts)), not capped
    if key not in counts:
        return None
    n = counts[key]
    return (COUNT_CAP, False) if n > COUNT_CAP else (n, True)


def _filtered_count(user, listing: Listing) -> tuple[int, bool] | None:
    """The total of a filtered queue (a search, a procedure, overdue…), counted up to the cap
    and kept ``COUNTS_CACHE_SECONDS`` per user and filters, as the tab counts are: paging
    through a search, or coming back to it, does not count it again (each capped count reads
    up to 1,001 matching rows: 30–90 ms for a common name or procedure in a province's
    queue). The user's own bulk action forgets them (``bulk``). ``None`` outside the queue."""
    if listing.mode != "queue":
        return None
    key = _cache_key(user, "filtered")
    filters = _querystring(listing.params)
    known = cache.get(key) or {}
    n = known.get(filters)
    if n is None:
        n = listing.rows.capped_count(COUNT_CAP)
        # A handful of recent filters per user, not every search typed.
        known = dict(list(known.items())[-19:]) | {filters: n}
        cache.set(key, known, COUNTS_CACHE_SECONDS)
    return (COUNT_CAP, False) if n > COUNT_CAP else (n, True)


def _walked(listing: Listing, number) -> tuple[int, bool] | None:
    """A search by words in the queue: the page read by walking the queue in order
    (``selectors.queue_walk``), kept for the paginator, and the total it tells — exact, or
    "more than" the page (a common name: counting its thousands of matches is what made the
    page slow, docs/queue-performance.md). ``None`` when the walk did not settle the page (a
    rare word: its index answers quickly, counted as before)."""
    if listing.walk is None:
        return None
    try:
        number = max(int(number), 1)
    except (TypeError, ValueError):
        number = 1
    start = (number - 1) * PAGE_SIZE
    stop = start + PAGE_SIZE + 1  # one row more: whether a next page exists
    walked = listing.walk(start=start, stop=stop)
    if walked is None:
        return None
    listing.rows.found = (start, stop, walked.rows)
    return walked.count, walked.exact


class CappedPaginator(Paginator):
    """A paginator that counts at most ``cap + 1`` rows.

    Up to ``cap`` rows it is Django's paginator. Beyond, the total is unknown: ``count`` is a
    lower bound (``exact`` False), the pages go on as long as there are rows (each page reads
    one row more to know whether a next page exists), and the page says "more than …".
    ``known``: ``(rows, exact)`` already counted elsewhere (the tab counts), to save the query.
    """

    def __init__(self, object_list, per_page, *, cap: int, known: tuple[int, bool] | None = None):
        super().__init__(object_list, per_page)
        self.cap = cap
        self._known = known

    @cached_property
    def _counted(self) -> tuple[int, bool]:
        if self._known is not None:
            return self._known
        n = self.object_list.capped_count(self.cap)
        return (self.cap, False) if n > self.cap else (n, True)

    @property
    def count(self) -> int:
        return self._counted[0]

    @property
    def exact(self) -> bool:
        return self._counted[1]

    @property
    def count_number(self) -> str:
        """The count with thousands grouped (a lower bound when not ``exact``)."""
        return number_format(self.count, force_grouping=True)

    def validate_number(self, number):
        if self.exact:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError) as exc:
            raise PageNotAnInteger(_("Số trang không hợp lệ.")) from exc
        if number < 1:
            raise EmptyPage(_("Số trang không hợp lệ."))
        return number

    def get_page(self, number) -> Page:
        try:
            number = self.validate_number(number)
        except PageNotAnInteger:
            number = 1
        except EmptyPage:
            number = 1 if not self.exact else self.num_pages
        return self.page(number)

    def page(self, number) -> Page:
        # Always one row more than the page, even with an exact total: a total kept a few
        # seconds (``known``) may be behind the rows, and the rows are the truth (a dossier
        # received since still shows, with a next link if it overflows the page).
        if self.exact:
            number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        page = Page(rows[: self.per_page], number, self)
        page.has_more = len(rows) > self.per_page
        page.next_number = number + 1  # not ``next_page_number()``: it checks the total
        return page


def _rows(dossiers, now) -> list[dict]:
    """What each row of the list shows, as ready strings (``_list_results.html`` prints them).

    The page's own cost was its 25 rows: each ``{% url %}``, filter and attribute chain of the
    template is resolved per row (~750 lookups a page, ~15 ms of CPU). Here the link is
    reversed once and the labels translated once; the template only prints and escapes.
    """
    placeholder = "0-CODE-0"
    link = reverse("dossier-page", args=[placeholder])
    states = {value: str(label) for value, label in State.choices}
    received, submitted = _("Nhận"), _("Nộp")
    rows = []
    for d in dossiers:
        dl = deadline_of(d, now)
        name = d.procedure_version.name
        due = timezone.localtime(d.due_at) if d.due_at else None
        moment, word = (d.received_at, received) if d.received_at else (d.submitted_at, submitted)
        since = f"{word} {timezone.localtime(moment):%H:%M %d/%m/%Y}" if moment else word
        rows.append({
            "code": d.code,
            "url": link.replace(placeholder, quote(d.code, safe=_PATH_SAFE)),
            "pick": f"{d.code}@{d.version}",
            "pick_label": _("Chọn hồ sơ %(code)s") % {"code": d.code},
            "since": since,
            "procedure": name,
            "procedure_short": _short(name),
            "applicant": d.applicant_name,
            "phone": d.applicant_phone,
            "due_time": f"{due:%H:%M}" if due else "",
            "due_date": f"{due:%d/%m/%Y}" if due else "",
            "row_css": dl.row_css, "dl_css": dl.css, "dl_label": dl.label, "dl_text": dl.text,
            "state": d.state, "state_css": STATE_CSS.get(d.state, ""),
            "state_label": states.get(d.state, d.state),
            "unit": d.current_unit.name if d.current_unit_id else "",
            "handler": person_name(d.current_handler) if d.current_handler_id else "",
        })
    return rows


def _bulk_actions(user) -> list[BulkAction]:
    if user.is_superuser:
        return list(BULK_ACTIONS)
    roles = roles_of(user)
    return [action for action in BULK_ACTIONS if roles.intersection(action.roles)]


def _officers_for_leader(user) -> list[tuple[object, str]]:
    """Officers a leader can assign: those of the units of the leader's agencies (one query)."""
    staff = permissions.staff_of(user)
    agencies = staff.agencies_for(Role.LEADER)
    rows = StaffRole.objects.filter(role=Role.OFFICER).select_related("user", "unit")
    if not staff.superuser:
        rows = rows.filter(unit__agency_id__in=agencies)
    seen, out = set(), []
    for row in rows.order_by("unit__name", "user__last_name", "user__first_name"):
        if row.user_id in seen:
            continue
        seen.add(row.user_id)
        out.append((row.user, f"{person_name(row.user)} — {row.unit.name}"))
    return out


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------


@require_GET
@staff_required(*WORKING_ROLES)
def queue(request):
    """Hồ sơ cần xử lý: the open dossiers waiting for me, soonest appointment first."""
    return _list_page(request, "queue")


@require_GET
@staff_required(*SEARCH_ROLES)
def search(request):
    """Tra cứu hồ sơ: every dossier I may see, newest first."""
    return _list_page(request, "search")


def _list_page(request, mode: str):
    listing = _listing(request, mode)
    partial = bool(request.htmx and request.htmx.target == "dossier-results")
    # The htmx refresh replaces the rows only: no tabs to count.
    counts = _queue_counts(request.user, listing) if mode == "queue" and not partial else {}
    paginator = CappedPaginator(
        listing.rows, PAGE_SIZE, cap=COUNT_CAP,
        known=(_known_count(listing, counts) or _walked(listing, request.GET.get("page"))
               or _filtered_count(request.user, listing)),
    )
    page = paginator.get_page(request.GET.get("page"))
    rows = _rows(page.object_list, timezone.now())
    url_name = "dossier-queue" if mode == "queue" else "dossier-search"
    export_name = "dossier-queue-export" if mode == "queue" else "dossier-search-export"
    actions = _bulk_actions(request.user) if mode == "queue" else []
    filter_qs = _querystring(listing.params)
    context = {
        "mode": mode, "listing": listing, "form": listing.form, "page": page, "rows": rows,
        "filter_qs": filter_qs,
        "page_url_prefix": "?" + (filter_qs + "&" if filter_qs else "") + "page=",
        "list_url": reverse(url_name),
        "export_url": reverse(export_name) + (
            "?" + _querystring(listing.params) if listing.params else ""
        ),
        "tabs": _tabs(request, listing, counts),
        "bulk_actions": actions,
        "officers": (
            _officers_for_leader(request.user) if any(a.name == "assign" for a in actions) else []
        ),
        "bulk_result": request.session.pop(BULK_SESSION_KEY, None),
        "title": _("Hồ sơ cần xử lý") if mode == "queue" else _("Tra cứu hồ sơ"),
    }
    if partial:
        return render(request, "dossiers/_list_results.html", context)
    return render(request, "dossiers/list.html", context)


# ---------------------------------------------------------------------------------------------
# Acting on several rows
# ---------------------------------------------------------------------------------------------


def _picks(values: list[str]) -> list[tuple[str, int | None]]:
    """``code@version`` values of the ticked rows, in order, without duplicates."""
    out, seen = [], set()
    for value in values:
        code, _sep, version = value.rpartition("@")
        if not _sep:
            code, version = value, ""
        code = code.strip()
        if not code or code in seen:
            continue
        seen.add(code)
        # Beyond 9 digits no version we issued: "not given", and the service answers.
        out.append((code, int(version) if version.isdigit() and len(version) <= 9 else None))
    return out


@require_POST
@staff_required(*WORKING_ROLES)
def bulk(request):
    """Apply one action to each ticked dossier; every row succeeds or fails on its own."""
    back = request.POST.get("next") or reverse("dossier-queue")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("dossier-queue")
    action = BULK_BY_NAME.get(request.POST.get("action", ""))
    picks = _picks(request.POST.getlist("pick"))
    if action is None or action not in _bulk_actions(request.user):
        messages.error(request, _("Vui lòng chọn thao tác."))
        return redirect(back)
    if not picks:
        messages.error(request, _("Vui lòng chọn ít nhất một hồ sơ."))
        return redirect(back)
    if len(picks) > BULK_MAX:
        messages.error(request, _("Mỗi lần chỉ thao tác tối đa %(n)d hồ sơ.") % {"n": BULK_MAX})
        return redirect(back)
    officer = None
    if action.name == "assign":
        officer_id = request.POST.get("officer", "")
        officer = next(
            (user for user, _label in _officers_for_leader(request.user)
             if str(user.pk) == officer_id), None,
        )
        if officer is None:
            messages.error(request, _("Vui lòng chọn chuyên viên được phân công."))
            return redirect(back)
    found = {
        d.code: d for d in dossier_visible_to(request.user).filter(code__in=[c for c, _v in picks])
    }
    results = []
    for code, version in picks:
        dossier = found.get(code)
        if dossier is None:
            results.append({"code": code, "ok": False, "message": _("Không tìm thấy hồ sơ.")})
            continue
        try:
            if officer is not None:
                dossier_assign(dossier=dossier, officer=officer, actor=request.user,
                               expected_version=version)
            else:
                dossier_transition(dossier=dossier, transition=action.name, actor=request.user,
                                   expected_version=version)
        except DomainError as exc:
            results.append({"code": code, "ok": False, "message": str(exc.message)})
        else:
            results.append({"code": code, "ok": True, "message": str(action.done)})
    cache.delete_many([_cache_key(request.user, "counts"), _cache_key(request.user, "filtered")])
    request.session[BULK_SESSION_KEY] = {
        "action": str(action.label),
        "ok": sum(1 for r in results if r["ok"]),
        "failed": sum(1 for r in results if not r["ok"]),
        "rows": results,
    }
    return redirect(back)


# ---------------------------------------------------------------------------------------------
# xlsx
# ---------------------------------------------------------------------------------------------

EXPORT_COLUMNS = [
    (gettext_lazy("STT"), 6), (gettext_lazy("Mã hồ sơ"), 28), (gettext_lazy("Thủ tục"), 50), (gettext_lazy("Mã thủ tục"), 24),
    (gettext_lazy("Người nộp"), 26), (gettext_lazy("Số giấy tờ"), 16), (gettext_lazy("Điện thoại"), 13),
    (gettext_lazy("Cách thức nộp"), 16), (gettext_lazy("Trạng thái"), 22), (gettext_lazy("Ngày tiếp nhận"), 17),
    (gettext_lazy("Ngày hẹn trả"), 17), (gettext_lazy("Tình trạng hạn"), 16), (gettext_lazy("Thời gian"), 22),
    (gettext_lazy("Đơn vị đang xử lý"), 30), (gettext_lazy("Cán bộ xử lý"), 24),
]


@require_GET
@staff_required(*WORKING_ROLES)
def queue_export(request):
    return _export(request, "queue")


@require_GET
@staff_required(*SEARCH_ROLES)
def search_export(request):
    return _export(request, "search")


def _export(request, mode: str) -> HttpResponse:
    listing = _listing(request, mode, export=True)
    now = timezone.now()

    exported = 0

    def rows():
        nonlocal exported
        count = 0
        for count, dossier in enumerate(
            listing.queryset[:EXPORT_MAX].iterator(chunk_size=2000), 1
        ):
            exported = count
            status = deadline_of(dossier, now)
            yield [
                count, dossier.code, dossier.procedure_version.name,
                dossier.procedure_version.procedure.code, dossier.applicant_name,
                dossier.applicant_id_number, dossier.applicant_phone,
                dossier.get_channel_display(), dossier.get_state_display(),
                dossier.received_at, dossier.due_at, status.label, status.text,
                dossier.current_unit.name if dossier.current_unit_id else "",
                person_name(dossier.current_handler) if dossier.current_handler_id else "",
            ]
        if count >= EXPORT_MAX:
            yield [_("Chỉ xuất %(n)d hồ sơ đầu tiên; hãy lọc thêm.") % {"n": EXPORT_MAX}]

    title = _("Hồ sơ cần xử lý") if mode == "queue" else _("Tra cứu hồ sơ")
    sheet = Sheet(
        title="Hồ sơ", columns=EXPORT_COLUMNS, rows=rows(), freeze="C3",
        heading=f"{title} — {timezone.localtime(now):%H:%M %d/%m/%Y}",
    )
    stamp = f"{timezone.localtime(now):%Y%m%d-%H%M}"
    name = "ho-so-can-xu-ly" if mode == "queue" else "tra-cuu-ho-so"
    data = xlsx_bytes(sheet)
    # One record for the whole export: the list, its filters and how many dossiers it held.
    access_record(request=request, kind=AccessKind.EXPORT, count=exported,
                  data={"list": mode, "filters": {k: str(v) for k, v in listing.params.items()}})
    return xlsx_response(data, f"{name}-{stamp}.xlsx")


