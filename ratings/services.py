"""The one write of ratings: :func:`rating_submit` (DOMAIN.md "Satisfaction").

Every caller — the public page, the kiosk at the desk, the public API, the demo seed — goes
through it. It also tells the staff who handled the dossier, through the outbox (in-app notices,
``motcua.outbox``), in the rating's own transaction.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import partial

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dossiers.models import Dossier, DossierStep, State
from dossiers.public.proof import dossier_by_proof
from motcua.errors import DomainError, ValidationError
from ratings.models import CRITERIA, Level, Rating, Source

logger = logging.getLogger(__name__)

#: The longest comment kept (characters, after trimming): the model's own limit.
COMMENT_MAX = Rating._meta.get_field("comment").max_length
CRITERION_NAMES = tuple(name for name, _label in CRITERIA)
REQUIRED_CRITERIA = ("overall",)
#: The kind of the staff notice a rating causes (``StaffNotice.kind``).
NOTICE_KIND = "rated"

# Control characters other than tab and newline: PostgreSQL refuses NUL in text, and none of
# them means anything in a comment typed by a person.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


#: What the proof loads with the dossier: the procedure's name (the kiosk, the notices).
_PROVABLE = Dossier.objects.select_related("procedure_version")


class DossierNotFound(DomainError):
    """Wrong code, wrong phone, malformed input or a client locked out for guessing: one answer
    for all of them, so that the answer tells nothing about which part was wrong."""

    code = "not_found"
    status = 404
    # The very words of tracking (dossiers.public.tracking.TrackingNotFound): one answer for
    # the citizen whichever page asks.
    default_message = gettext_lazy(
        "Không tìm thấy hồ sơ với mã và số điện thoại này. Vui lòng kiểm tra mã trên giấy "
        "tiếp nhận và số điện thoại đã khai khi nộp hồ sơ."
    )


def rating_submit(
    *, code, phone, answers, comment="", source: str, ip: str
) -> Rating:
    """Record the citizen's rating of one dossier and tell the staff who handled it.

    Rules (DOMAIN.md "Satisfaction"):

    - the answers name only the known criteria (``ratings.models.CRITERIA``) with a level of
      the scale (``Level``); ``overall`` is required, the others are optional; else
      ``invalid_answers``;
    - the comment is optional text, trimmed, at most :data:`COMMENT_MAX` characters
      (``comment_too_long``); it is stored as typed (markup included) and escaped wherever it is
      shown;
    - proof is the dossier's code and the phone given at submission
      (``dossiers.public.proof``): anything else is the one :class:`DossierNotFound` (404),
      and counts towards the client's lock-out;
    - only a ``returned`` dossier is rated (``not_returned``), and only once
      (``already_rated``): the dossier is the rating's unique key, so of two submits at the
      same moment one is stored and the other refused, and nothing is ever changed.

    After the commit, each member of staff who handled a step of the dossier finds an in-app
    notice (outbox channel ``notice``, delivered at once by ``motcua.deliver_outbox``).
    """
    if source not in Source.values:
        raise ValidationError(_("Nguồn đánh giá không hợp lệ."), code="invalid_source")
    levels = clean_answers(answers)
    text = clean_comment(comment)
    dossier = rating_check(code=code, phone=phone, ip=ip)
    try:
        with transaction.atomic():
            rating = Rating.objects.create(dossier=dossier, comment=text, source=source, **levels)
            _record_notices(rating=rating, dossier=dossier)
    except IntegrityError:
        # The dossier is the unique key: someone rated it between our check and our insert
        # (a second tap, a second tab); their rating stands and nothing of ours is written.
        if Rating.objects.filter(dossier_id=dossier.pk).exists():
            raise already_rated() from None
        raise
    transaction.on_commit(partial(_enqueue_delivery, dossier.pk))
    return rating


def rating_check(*, code, phone, ip: str) -> Dossier:
    """The dossier the citizen may rate now, else :class:`DossierNotFound`, ``not_returned`` or
    ``already_rated`` — the checks of :func:`rating_submit` before it writes, and the kiosk's
    first screen before it shows the criteria. Reads only."""
    dossier = dossier_by_proof(code=code, phone=phone, ip=ip, queryset=_PROVABLE)
    if dossier is None:
        raise DossierNotFound()
    if dossier.state != State.RETURNED:
        raise ValidationError(not_returned_message(dossier), code="not_returned")
    if Rating.objects.filter(dossier_id=dossier.pk).exists():
        raise already_rated()
    return dossier


# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------


def clean_answers(answers) -> dict[str, str]:
    """``{criterion: level}`` with every criterion present (``""`` = not answered), or
    ``invalid_answers`` with a message per criterion (``answers`` for the whole)."""
    if not isinstance(answers, dict):
        raise ValidationError(
            _("Phiếu đánh giá không hợp lệ: cần chọn mức độ hài lòng cho từng tiêu chí."),
            code="invalid_answers",
            errors={"answers": [_("Cần một danh sách “tiêu chí: mức độ hài lòng”.")]},
        )
    errors: dict[str, list[str]] = {}
    levels = dict.fromkeys(CRITERION_NAMES, "")
    for key, value in answers.items():
        if key not in levels:
            errors.setdefault("answers", []).append(
                _("Tiêu chí “%(name)s” không có trong phiếu đánh giá.") % {"name": str(key)[:40]}
            )
            continue
        if value in (None, ""):
            continue
        if not isinstance(value, str) or value not in Level.values:
            errors.setdefault(key, []).append(
                _("Mức độ “%(level)s” không có trong thang đánh giá (rất hài lòng, hài lòng, "
                  "không hài lòng).") % {"level": str(value)[:40]}
            )
            continue
        levels[key] = value
    for key in REQUIRED_CRITERIA:
        if not levels[key] and key not in errors:
            errors[key] = [_("Vui lòng chọn mức độ hài lòng chung.")]
    if errors:
        raise ValidationError(
            _("Phiếu đánh giá chưa hợp lệ, vui lòng xem lại các mục được đánh dấu."),
            code="invalid_answers", errors=errors,
        )
    return levels


def clean_comment(comment) -> str:
    """The comment as stored: Unicode NFC (Vietnamese typed on phones often arrives
    decomposed), control characters dropped, trimmed; ``comment_too_long`` past the limit."""
    if comment is None:
        return ""
    if not isinstance(comment, str):
        raise ValidationError(
            _("Góp ý phải là văn bản."), code="invalid_comment",
            errors={"comment": [_("Góp ý phải là văn bản.")]},
        )
    text = _CONTROL.sub("", unicodedata.normalize("NFC", comment)).strip()
    if len(text) > COMMENT_MAX:
        message = _(
            "Góp ý dài %(length)d ký tự, vượt quá %(max)d ký tự cho phép. Vui lòng rút gọn."
        ) % {"length": len(text), "max": COMMENT_MAX}
        raise ValidationError(message, code="comment_too_long", errors={"comment": [message]})
    return text


def not_returned_message(dossier: Dossier) -> str:
    if dossier.state in (State.REFUSED, State.WITHDRAWN, State.STOPPED):
        return _(
            "Hồ sơ %(code)s đã kết thúc mà không trả kết quả (%(state)s). Chỉ đánh giá được hồ sơ "
            "đã trả kết quả."
        ) % {"code": dossier.code, "state": dossier.get_state_display().lower()}
    return _(
        "Hồ sơ %(code)s chưa trả kết quả (%(state)s). Ông/bà có thể đánh giá sau khi nhận "
        "kết quả."
    ) % {"code": dossier.code, "state": dossier.get_state_display().lower()}


def already_rated() -> ValidationError:
    return ValidationError(
        _("Hồ sơ này đã được đánh giá. Mỗi hồ sơ chỉ đánh giá một lần; cảm ơn ông/bà đã góp ý."),
        code="already_rated",
    )


# ---------------------------------------------------------------------------------------------
# Telling the staff
# ---------------------------------------------------------------------------------------------


def rating_recipients(dossier: Dossier) -> list[int]:
    """The staff who handled the dossier: the handler of each of its steps (every attempt),
    active accounts only, in the order they worked."""
    handlers = (
        DossierStep.objects.filter(dossier=dossier, handler__is_active=True)
        .order_by("position", "attempt").values_list("handler_id", flat=True)
    )
    return list(dict.fromkeys(handlers))


def _record_notices(*, rating: Rating, dossier: Dossier) -> int:
    """The notices of one rating, in its transaction (outbox rows keyed ``rating:<id>``, so
    recording twice adds nothing). Seeded history (``history_import``) tells nobody."""
    from dossiers.services._common import _history
    from motcua import notify
    from motcua.models import OutboxMessage
    from motcua.outbox.services import _store

    if _history.get():
        return 0
    users = rating_recipients(dossier)
    if not users:
        return 0
    context = {
        "code": dossier.code,
        "procedure": dossier.procedure_version.name,
        "overall": Level(rating.overall).label,
        "dissatisfied": rating.has_dissatisfied,
        "answers": [(label, Level(value).label) for label, value in rating.answers_labelled()],
        "comment": rating.comment[:300] + ("…" if len(rating.comment) > 300 else ""),
    }
    title, body = notify.render_email("ratings/rated.notice.txt", context)
    url = reverse("dossier-page", args=[dossier.code])
    messages = [
        notify.Message(
            channel=OutboxMessage.Channel.NOTICE, topic=NOTICE_KIND, recipient=f"user:{user_id}",
            subject=title, body=body, payload={"kind": NOTICE_KIND, "url": url},
            user_id=user_id,
        )
        for user_id in users
    ]
    return _store(messages, prefix=f"rating:{rating.pk}", dossier_id=dossier.pk)


def _enqueue_delivery(dossier_id: int) -> None:
    """Deliver the notices now. Best effort: the outbox rows are committed, and the beat's
    every-minute ``motcua.deliver_outbox`` sends them if the broker is away."""
    from motcua.tasks import deliver_outbox

    try:
        deliver_outbox.delay(dossier_id)
    except Exception:
        logger.exception("Could not enqueue motcua.deliver_outbox for dossier %s", dossier_id)
