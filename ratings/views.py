"""Pages of the ratings: the citizen's form (``/danh-gia/``), the kiosk at the desk
(``/danh-gia/quay/``) and the staff list with its xlsx export (``/staff/ratings/``).

Every write goes through ``ratings.services.rating_submit``; every page is ``never_cache`` (a
shared tablet must not show the previous citizen's screen from the browser's cache)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from dossiers.public.proof import client_ip, normalise_code
from motcua.errors import DomainError
from motcua.xlsx import Sheet, xlsx_bytes, xlsx_response
from ratings.forms import RatingFilterForm, RatingInput, criteria_rows, extract_code
from ratings.models import CRITERIA, Level, Source
from ratings.selectors import can_see_ratings, rating_handled_by, rating_list, rating_summary
from ratings.services import rating_check, rating_submit
from ratings.throttle import RatingThrottled, check_rating_throttle

PAGE_SIZE = 25
#: Seconds the kiosk shows its thanks before starting again.
KIOSK_THANKS_SECONDS = 8
#: Seconds without a touch after which the kiosk drops what is on screen and starts again.
KIOSK_IDLE_SECONDS = 90
#: Errors after which the kiosk goes back to its first screen (the proof failed).
PROOF_ERRORS = {"not_found", "not_returned", "already_rated"}
THANKS_KEY = "ratings:thanks"


# ---------------------------------------------------------------------------------------------
# The citizen's page
# ---------------------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def rate(request):
    """Code (prefilled from ``?ma=``) and phone, the criteria, a comment; one POST."""
    if request.method == "GET":
        entry = RatingInput(code=normalise_code(extract_code(request.GET.get("ma", ""))))
        source = Source.TRACKING if request.GET.get("nguon") == "tra-cuu" else Source.LINK
        return _rate_page(request, entry, source=source)
    entry = RatingInput.from_post(request.POST)
    source = Source.TRACKING if request.POST.get("source") == Source.TRACKING else Source.LINK
    try:
        check_rating_throttle(request)
        rating = rating_submit(
            code=entry.code, phone=entry.phone, answers=entry.answers, comment=entry.comment,
            source=source, ip=client_ip(request),
        )
    except DomainError as exc:
        return _with_retry(
            _rate_page(request, entry, source=source, error=exc, status=exc.status), exc
        )
    request.session[THANKS_KEY] = {"code": rating.dossier.code, "overall": rating.overall}
    return redirect("public-rate-thanks")


def _rate_page(request, entry: RatingInput, *, source: str, error: DomainError | None = None,
               status: int = 200):
    errors = _errors_of(error)
    return render(request, "ratings/rate.html", {
        "entry": entry, "source": source, "error": error, "errors": errors,
        "criteria": criteria_rows(entry.answers, errors),
        "comment_max": _comment_max(),
    }, status=status)


@never_cache
@require_GET
def rate_thanks(request):
    done = request.session.pop(THANKS_KEY, None)
    if not done:
        return redirect("public-rate")
    return render(request, "ratings/thanks.html", {
        "code": done.get("code", ""),
        "dissatisfied": done.get("overall") == Level.DISSATISFIED,
    })


# ---------------------------------------------------------------------------------------------
# The kiosk at the desk
# ---------------------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def kiosk(request):
    """Screen 1: code (typed or scanned) and phone → screen 2: the criteria as very large
    buttons → thanks, then the first screen again. Nothing of one citizen stays for the next:
    no value kept by the browser (``autocomplete=off``), no cache, a reset after thanks and
    after :data:`KIOSK_IDLE_SECONDS` without a touch."""
    if request.method == "GET":
        return _kiosk_start(request, RatingInput())
    entry = RatingInput.from_post(request.POST)
    ip = client_ip(request)
    try:
        check_rating_throttle(request)
    except RatingThrottled as exc:
        return _with_retry(_kiosk_start(request, RatingInput(), error=exc, status=429), exc)
    if request.POST.get("step") != "rate":
        try:
            dossier = rating_check(code=entry.code, phone=entry.phone, ip=ip)
        except DomainError as exc:
            return _kiosk_start(request, entry, error=exc, status=exc.status)
        return _kiosk_rate(request, entry, dossier=dossier)
    try:
        rating_submit(
            code=entry.code, phone=entry.phone, answers=entry.answers, comment=entry.comment,
            source=Source.KIOSK, ip=ip,
        )
    except DomainError as exc:
        if exc.code in PROOF_ERRORS:
            return _kiosk_start(request, RatingInput(), error=exc, status=exc.status)
        dossier = _proved_again(entry, ip)
        if dossier is None:
            return _kiosk_start(request, RatingInput(), error=exc, status=exc.status)
        return _kiosk_rate(request, entry, dossier=dossier, error=exc, status=exc.status)
    return redirect("public-rate-kiosk-thanks")


def _proved_again(entry: RatingInput, ip: str):
    try:
        return rating_check(code=entry.code, phone=entry.phone, ip=ip)
    except DomainError:
        return None


def _kiosk_context(**extra) -> dict:
    return {
        "idle_seconds": KIOSK_IDLE_SECONDS, "thanks_seconds": KIOSK_THANKS_SECONDS, **extra,
    }


def _kiosk_start(request, entry: RatingInput, *, error: DomainError | None = None,
                 status: int = 200):
    return render(request, "ratings/kiosk_start.html", _kiosk_context(
        entry=entry, error=error, errors=_errors_of(error), screen="start",
    ), status=status)


def _kiosk_rate(request, entry: RatingInput, *, dossier, error: DomainError | None = None,
                status: int = 200):
    errors = _errors_of(error)
    return render(request, "ratings/kiosk_rate.html", _kiosk_context(
        entry=entry, code=dossier.code, procedure=dossier.procedure_version.name,
        error=error, errors=errors, criteria=criteria_rows(entry.answers, errors),
        comment_max=_comment_max(), screen="rate",
    ), status=status)


@never_cache
@require_GET
def kiosk_thanks(request):
    return render(request, "ratings/kiosk_thanks.html", _kiosk_context(screen="thanks"))


def _with_retry(response, error: DomainError):
    if isinstance(error, RatingThrottled):
        response["Retry-After"] = str(error.wait)
    return response


def _errors_of(error: DomainError | None) -> dict[str, list[str]]:
    if error is None or not isinstance(error.errors, dict):
        return {}
    return {
        str(key): [str(m) for m in (value if isinstance(value, list) else [value])]
        for key, value in error.errors.items()
    }


def _comment_max() -> int:
    from ratings.services import COMMENT_MAX

    return COMMENT_MAX


# ---------------------------------------------------------------------------------------------
# Staff
# ---------------------------------------------------------------------------------------------


def _staff_listing(request):
    if not can_see_ratings(request.user):
        raise PermissionDenied
    form = RatingFilterForm(request.GET or None)
    filters = form.filters() if request.GET else RatingFilterForm().filters()
    return form, filters, rating_list(user=request.user, filters=filters)


@never_cache
@login_required
@require_GET
def staff_ratings(request):
    """The ratings of dossiers handled by the user's units (supervisors, catalogue admins:
    all), newest first, filtered by level and period, with their comments."""
    form, filters, ratings = _staff_listing(request)
    page = Paginator(ratings, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = []
    for rating in page.object_list:
        units, people = rating_handled_by(rating)
        rows.append({"rating": rating, "units": units, "people": people,
                     "answers": _answer_cells(rating)})
    query = {k: v for k, v in request.GET.items() if k != "page" and v}
    return render(request, "ratings/staff_list.html", {
        "form": form, "page": page, "rows": rows, "summary": rating_summary(ratings),
        "criteria": CRITERIA, "query": urlencode(query),
        "filtered": any(v for k, v in query.items()),
    })


def _answer_cells(rating) -> list[dict]:
    return [
        {"label": label, "level": getattr(rating, name),
         "text": Level(getattr(rating, name)).label if getattr(rating, name) else ""}
        for name, label in CRITERIA
    ]


EXPORT_MAX = 50_000
EXPORT_COLUMNS = [
    (gettext_lazy("STT"), 6), (gettext_lazy("Mã hồ sơ"), 28), (gettext_lazy("Thủ tục"), 48),
    (gettext_lazy("Cơ quan tiếp nhận"), 30), (gettext_lazy("Trả kết quả lúc"), 17),
    (gettext_lazy("Đánh giá lúc"), 17), (gettext_lazy("Nơi đánh giá"), 20),
    *[(label, 16) for _name, label in CRITERIA],
    (gettext_lazy("Góp ý"), 60), (gettext_lazy("Đơn vị xử lý"), 36),
    (gettext_lazy("Cán bộ xử lý"), 30),
]


@never_cache
@login_required
@require_GET
def staff_ratings_export(request):
    """The list as xlsx, with the same filters (at most :data:`EXPORT_MAX` rows)."""
    _form, _filters, ratings = _staff_listing(request)
    now = timezone.now()

    def rows():
        count = 0
        for count, rating in enumerate(ratings[:EXPORT_MAX].iterator(chunk_size=2000), 1):
            dossier = rating.dossier
            units, people = rating_handled_by(rating)
            yield [
                count, dossier.code, dossier.procedure_version.name, dossier.agency.name,
                dossier.returned_at, rating.created_at, str(rating.get_source_display()),
                *[str(Level(getattr(rating, n)).label) if getattr(rating, n) else ""
                  for n, _label in CRITERIA],
                rating.comment, "; ".join(units), "; ".join(people),
            ]
        if count >= EXPORT_MAX:
            yield [_("Chỉ xuất %(n)d đánh giá đầu tiên; hãy lọc thêm.") % {"n": EXPORT_MAX}]

    sheet = Sheet(
        title="Đánh giá", columns=EXPORT_COLUMNS, rows=rows(), freeze="C3",
        heading=f"{_('Đánh giá mức độ hài lòng')} — {timezone.localtime(now):%H:%M %d/%m/%Y}",
    )
    stamp = f"{timezone.localtime(now):%Y%m%d-%H%M}"
    return xlsx_response(xlsx_bytes(sheet), f"danh-gia-hai-long-{stamp}.xlsx")


