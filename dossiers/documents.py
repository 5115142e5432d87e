"""The official forms of a dossier as PDF (Circular 03/2025/TT-VPCP, Appendix I).

=====================  ======  ==============================================================
kind                   form    applies when
=====================  ======  ==============================================================
``receipt``            Mẫu 01  the dossier was received (it has its code and appointment)
``supplement``         Mẫu 02  a supplement was requested (the latest request is printed)
``refusal``            Mẫu 03  the desk refused to receive it (state ``refused``)
``apology``            Mẫu 04  an apology was recorded (event ``apology``) or is given here
``stop-notice``        Mẫu 05  the agency stopped processing it (state ``stopped``)
``control-sheet``      Mẫu 06  the dossier was received (hand-overs so far)
=====================  ======  ==============================================================

Each form has a context builder (``receipt_context`` …) that reads the dossier, its steps,
checklist and event log — prefetched by ``selectors.dossier_get`` — and turns every value into
the words printed on paper, so that the templates only lay them out. All text goes through
Django's autoescaping: a name typed as ``<script>`` prints as those characters.

:func:`render_dossier_document` is what services and tasks call; :func:`dossier_document` is
the staff-site view and ``dossiers.api.documents.DossierDocumentView`` the API's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe

from dossiers.models import (
    Dossier,
    DossierEvent,
    DossierStep,
    IdType,
    Outcome,
    State,
    Transition,
)
from motcua.errors import DomainError, ValidationError
from motcua.models import Agency, Role, StaffRole, Unit
from motcua.pdf import qr_data_uri, render_pdf
from motcua.text import person_name
from procedures.models import Channel, ProcedureVersion, SupplementClock, TimeUnit
from procedures.selectors import procedure_time_limit

__all__ = [
    "KIND_PATTERN",
    "KINDS",
    "DocumentNotApplicable",
    "apology_context",
    "control_sheet_context",
    "desk_supplement_context",
    "document_filename",
    "document_options",
    "dossier_document",
    "pdf_response",
    "receipt_context",
    "refusal_context",
    "render_desk_supplement",
    "render_dossier_document",
    "stop_notice_context",
    "supplement_context",
    "tracking_url",
]

#: The event the deadline sweep (``dossiers.deadlines``) appends for each letter; its ``data``
#: holds ``new_due_at`` and ``previous_due_at`` (ISO), ``step`` (DossierStep id) or ``unit``
#: (Unit id) or ``at_fault`` (text), ``reason``, and ``apology`` / ``apology_number`` (the
#: :class:`~dossiers.models.Apology` row, from which the letter is printed).
APOLOGY_EVENT = "apology"


class DocumentNotApplicable(ValidationError):
    """The form does not exist for this dossier in its state or history (a refusal slip for
    a dossier that was received, a receipt for one that never was)."""

    code = "document_not_applicable"
    default_message = gettext_lazy("Hồ sơ không có văn bản này ở trạng thái hiện tại.")


# ---------------------------------------------------------------------------------------------
# Words for dates, hours, people and agencies
# ---------------------------------------------------------------------------------------------


def _local(moment: datetime) -> datetime:
    return timezone.localtime(moment) if timezone.is_aware(moment) else moment


def vn_date(value: date | datetime | None) -> str:
    """``ngày 24 tháng 11 năm 2025`` (two-digit day and month, as official documents write)."""
    if value is None:
        return "ngày …… tháng …… năm ……"
    if isinstance(value, datetime):
        value = _local(value)
    return f"ngày {value:%d} tháng {value:%m} năm {value:%Y}"


def vn_time(value: datetime | None) -> str:
    """``09 giờ 05 phút``."""
    if value is None:
        return "…… giờ …… phút"
    value = _local(value)
    return f"{value:%H} giờ {value:%M} phút"


def vn_moment(value: datetime | None) -> str:
    """``09 giờ 05 phút, ngày 24 tháng 11 năm 2025``."""
    return f"{vn_time(value)}, {vn_date(value)}"


_UBND = re.compile(r"^(ủy|uỷ) ban nhân dân\s+", re.IGNORECASE)
_COMMUNE_PREFIX = re.compile(r"^(ủy|uỷ) ban nhân dân\s+(xã|phường|đặc khu|thị trấn)\s+", re.IGNORECASE)
_PROVINCE_PREFIX = re.compile(r"^(tỉnh|thành phố)\s+", re.IGNORECASE)


def _province() -> str:
    return settings.MOTCUA_PROVINCE_NAME.strip()


def agency_parent_line(agency: Agency) -> str:
    """The line above the agency in the header: its parent (``UBND TỈNH AN GIANG`` for the
    province's departments and communes); none for the province's people's committee."""
    if agency.kind == Agency.Kind.PROVINCE:
        return ""
    parent = agency.parent
    name = parent.name if parent is not None else f"Ủy ban nhân dân {_province()}"
    return _UBND.sub("UBND ", name).upper()


def agency_name_line(agency: Agency, parent_line: str) -> str:
    """The agency's name, without the province's name when the parent line already says it
    (``SỞ TƯ PHÁP`` under ``UBND TỈNH AN GIANG``, not ``SỞ TƯ PHÁP TỈNH AN GIANG``)."""
    name = agency.name.strip()
    province = _province()
    if parent_line and parent_line.endswith(province.upper()):
        suffix = " " + province
        if name.lower().endswith(suffix.lower()) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name.upper()


def agency_place(agency: Agency) -> str:
    """Where documents are dated (Decree 30/2020): the commune for a commune's committee,
    the province otherwise (``An Giang``)."""
    if agency.kind == Agency.Kind.COMMUNE:
        match = _COMMUNE_PREFIX.match(agency.name.strip())
        if match:
            return agency.name.strip()[match.end():]
    return _PROVINCE_PREFIX.sub("", _province())


def header(
    agency: Agency, *, doc_date: date | datetime, doc_number: str = "", code: str = ""
) -> dict:
    """The context keys of ``pdf/base.html``. The desk's slips (Mẫu 01, 02, 03, 06) carry the
    dossier ``code`` where letters carry their number from the agency's register."""
    parent = agency_parent_line(agency)
    return {
        "agency_parent": parent,
        "agency_name": agency_name_line(agency, parent),
        "number_label": _("Mã hồ sơ") if code else _("Số"),
        "doc_number": code or doc_number,
        "place": agency_place(agency),
        "doc_date_text": vn_date(doc_date),
    }


def tracking_url(code: str) -> str:
    """The public tracking page of a dossier (printed as the receipt's QR code)."""
    base = settings.MOTCUA_PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/tra-cuu/?{urlencode({'ma': code})}"


@dataclass
class Signatory:
    """One signature block: the role lines (upper case), the hint under them and the name."""

    lines: list[str]
    hint: str = "(Ký và ghi rõ họ tên)"
    name: str = ""


_HEAD_OF = {
    Agency.Kind.PROVINCE: ("TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"),
    Agency.Kind.COMMUNE: ("TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"),
    Agency.Kind.DEPARTMENT: ("", "GIÁM ĐỐC"),
    Agency.Kind.CENTER: ("", "GIÁM ĐỐC"),
}


def authority_lines(agency: Agency, title: str = "") -> list[str]:
    """The signing authority (Decree 30/2020): ``TM. ỦY BAN NHÂN DÂN / CHỦ TỊCH`` for a
    committee, ``GIÁM ĐỐC`` for a department; a deputy signs ``KT. GIÁM ĐỐC / PHÓ GIÁM ĐỐC``.
    ``title`` is the signer's title as the organisation admin wrote it (StaffRole.title)."""
    collective, head = _HEAD_OF.get(agency.kind, ("", "THỦ TRƯỞNG CƠ QUAN"))
    lines = [collective] if collective else []
    title = (title or "").strip().upper()
    if not title:
        return [*lines, head]
    if title.startswith("PHÓ "):
        return [*lines, f"KT. {title[4:]}", title]
    return [*lines, title]


def leader_signatory(agency: Agency, user=None, *, title: str | None = None) -> Signatory:
    """The leader who signs a letter of ``agency`` (Mẫu 04, 05)."""
    if title is None and user is not None:
        title = (
            StaffRole.objects.filter(user=user, role=Role.LEADER, unit__agency=agency)
            .exclude(title="")
            .values_list("title", flat=True)
            .first()
        )
    return Signatory(
        lines=authority_lines(agency, title or ""),
        hint="(Ký, ghi rõ họ tên và đóng dấu)",
        name=person_name(user) if user is not None else "",
    )


# ---------------------------------------------------------------------------------------------
# Reading the dossier
# ---------------------------------------------------------------------------------------------


def _events(dossier: Dossier) -> list[DossierEvent]:
    # Prefetched by selectors.dossier_get (ordered by time); otherwise one query.
    return sorted(dossier.events.all(), key=lambda e: (e.at, e.pk))


def _steps(dossier: Dossier) -> list[DossierStep]:
    return sorted(dossier.steps.all(), key=lambda s: (s.position, s.attempt))


def _last(events: Iterable[DossierEvent], transition: str) -> DossierEvent | None:
    found = None
    for event in events:
        if event.transition == transition:
            found = event
    return found


def _applicant(dossier: Dossier) -> dict:
    passport = dossier.applicant_id_type == IdType.PASSPORT
    return {
        "name": dossier.applicant_name,
        "id_label": _("Số hộ chiếu") if passport else _("Số định danh cá nhân"),
        "id_number": dossier.applicant_id_number,
        "address": dossier.applicant_address,
        "phone": dossier.applicant_phone,
        "email": dossier.applicant_email,
    }


def _procedure(version: ProcedureVersion) -> dict:
    return {"name": version.name, "code": version.procedure.code}


def _amount(value) -> str:
    text = format(Decimal(value).normalize(), "f")
    return text.replace(".", ",")


def time_limit_text(version: ProcedureVersion, channel: str) -> str:
    """``05 ngày làm việc`` / ``4 giờ làm việc`` / ``Trong ngày`` (limit 0)."""
    amount, unit = procedure_time_limit(version=version, channel=channel)
    if Decimal(amount) == 0:
        return _("Trong ngày làm việc")
    number = _amount(amount)
    if unit in (TimeUnit.WORKING_DAYS, TimeUnit.CALENDAR_DAYS) and number.isdigit():
        number = number.zfill(2)
    return f"{number} {TimeUnit(unit).label}"


def _unit_label(step: DossierStep | None, dossier: Dossier) -> str:
    """A step's unit, with its agency when that is not the receiving agency (liên thông)."""
    if step is None:
        return ""
    if step.agency_id != dossier.agency_id:
        return f"{step.unit.name} – {step.agency.name}"
    return step.unit.name


def _desk(dossier: Dossier, steps: list[DossierStep], *, last: bool = False) -> tuple[str, Agency]:
    """The one-stop desk (reception or return step) and its agency."""
    clerk_steps = [s for s in steps if s.role == Role.CLERK]
    if clerk_steps:
        step = clerk_steps[-1] if last else clerk_steps[0]
        return step.unit.name, step.agency
    unit = (
        Unit.objects.filter(agency=dossier.agency, is_reception=True, is_active=True)
        .order_by("code").first()
    )
    return (unit.name if unit else _("Bộ phận tiếp nhận và trả kết quả")), dossier.agency


def _phone(number: str) -> str:
    """A phone number that never breaks across lines (``0296 3 852 000``)."""
    return (number or "").strip().replace(" ", "\u00a0")


def _contact(agency: Agency) -> str:
    bits = []
    if agency.address:
        bits.append(_("địa chỉ: %(address)s") % {"address": agency.address})
    if agency.phone:
        bits.append(_("điện thoại: %(phone)s") % {"phone": _phone(agency.phone)})
    return "; ".join(bits)


def _require(condition, message: str) -> None:
    if not condition:
        raise DocumentNotApplicable(message)


def _received(dossier: Dossier, form: str) -> None:
    _require(
        dossier.received_at is not None and not _is_provisional(dossier),
        _("Hồ sơ %(code)s chưa được tiếp nhận (trạng thái “%(state)s”) nên không có %(form)s.")
        % {"code": dossier.code, "state": dossier.get_state_display(), "form": form},
    )


def _is_provisional(dossier: Dossier) -> bool:
    return bool(dossier.provisional_code) and dossier.code == dossier.provisional_code


def _parse_moment(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return parse_datetime(value)
    return None


def _texts(values) -> list[str]:
    if not values:
        return []
    if isinstance(values, str):
        values = [values]
    return [str(v).strip() for v in values if str(v).strip()]


# ---------------------------------------------------------------------------------------------
# Mẫu 01 — Giấy tiếp nhận hồ sơ và hẹn trả kết quả
# ---------------------------------------------------------------------------------------------


def receipt_context(dossier: Dossier) -> dict:
    """Mẫu 01: who submitted what, the statutory time, when it was received, when and where the
    result is to be collected, and the QR code of the tracking page."""
    _received(dossier, _("Giấy tiếp nhận hồ sơ và hẹn trả kết quả"))
    events = _events(dossier)
    steps = _steps(dossier)
    receive = _last(events, Transition.RECEIVE)
    clerk = receive.actor if receive is not None else None
    desk, desk_agency = _desk(dossier, steps)
    return_desk, return_agency = _desk(dossier, steps, last=True)
    version = dossier.procedure_version
    url = tracking_url(dossier.code)
    if dossier.channel == Channel.POST and dossier.applicant_address:
        collect = _("Nhận qua dịch vụ bưu chính công ích tại địa chỉ: %(address)s") % {
            "address": dossier.applicant_address
        }
    else:
        collect = f"{return_desk} – {return_agency.name}"
        contact = _contact(return_agency)
        if contact:
            collect = f"{collect} ({contact})"
    documents = [
        {"name": d.name, "originals": d.originals, "copies": d.copies}
        for d in sorted(dossier.documents.all(), key=lambda d: (d.position, d.pk))
        if d.received
    ]
    due_changed = (
        dossier.original_due_at is not None and dossier.due_at is not None
        and dossier.original_due_at != dossier.due_at
    )
    return {
        **header(dossier.agency, doc_date=dossier.received_at, code=dossier.code),
        "form": "01",
        "title": _("Giấy tiếp nhận hồ sơ và hẹn trả kết quả"),
        "code": dossier.code,
        "desk": desk,
        "desk_agency": desk_agency.name,
        "applicant": _applicant(dossier),
        "procedure": _procedure(version),
        "documents": documents,
        "sets": "01",
        "time_limit": time_limit_text(version, dossier.channel),
        "received": vn_moment(dossier.received_at),
        "due": vn_moment(dossier.due_at),
        "original_due": vn_moment(dossier.original_due_at) if due_changed else "",
        "collect_at": collect,
        "channel": Channel(dossier.channel).label,
        "tracking_url": url,
        "qr": qr_data_uri(url, scale=4),
        "signatures": [
            Signatory([_("Người nộp hồ sơ")], name=dossier.applicant_name),
            Signatory([_("Người tiếp nhận hồ sơ")], name=person_name(clerk)),
        ],
    }


# ---------------------------------------------------------------------------------------------
# Mẫu 02 — Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ
# ---------------------------------------------------------------------------------------------


def _clock_rule(version: ProcedureVersion) -> str:
    if version.supplement_clock == SupplementClock.RESTART:
        return _(
            "Thời hạn giải quyết hồ sơ được tính lại từ đầu kể từ khi Ông/Bà nộp đủ hồ sơ "
            "bổ sung, hoàn thiện."
        )
    return _(
        "Thời gian chờ Ông/Bà bổ sung, hoàn thiện hồ sơ không tính vào thời hạn giải quyết; "
        "ngày hẹn trả kết quả được lùi tương ứng khi Ông/Bà nộp đủ hồ sơ bổ sung."
    )


def supplement_context(dossier: Dossier, event: DossierEvent | None = None) -> dict:
    """Mẫu 02 for the dossier's latest supplement request (or ``event``): what is missing,
    why, who asked and when."""
    _received(dossier, _("Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ"))
    events = _events(dossier)
    event = event or _last(events, Transition.REQUEST_SUPPLEMENT)
    _require(
        event is not None,
        _("Hồ sơ %(code)s chưa có yêu cầu bổ sung, hoàn thiện hồ sơ nào.") % {"code": dossier.code},
    )
    steps = _steps(dossier)
    step = event.step
    agency = step.agency if step is not None else dossier.agency
    desk, desk_agency = _desk(dossier, steps)
    data = event.data or {}
    reasons = _texts(data.get("reasons"))
    if not reasons and event.comment:
        reasons = [event.comment]
    asker = person_name(event.actor)
    if step is not None:
        asker = ", ".join(p for p in (asker, _unit_label(step, dossier)) if p)
    return {
        **header(agency, doc_date=event.at, code=dossier.code),
        "request_number": _request_number(data.get("request_number")),
        "form": "02",
        "title": _("Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ"),
        "code": dossier.code,
        "applicant": _applicant(dossier),
        "procedure": _procedure(dossier.procedure_version),
        "received": vn_moment(dossier.received_at),
        "missing": _texts(data.get("missing_documents")),
        "reasons": reasons,
        "asked_by": asker,
        "asked_at": vn_moment(event.at),
        "clock_rule": _clock_rule(dossier.procedure_version),
        "contact": _desk_contact(desk, desk_agency),
        "signatures": [Signatory([_("Người hướng dẫn")], name=person_name(event.actor))],
    }


def _request_number(number) -> int:
    try:
        return max(int(number or 1), 1)
    except (TypeError, ValueError):
        return 1


def _desk_contact(desk: str, agency: Agency) -> str:
    contact = f"{desk} – {agency.name}"
    if agency.phone:
        contact += _(", số điện thoại %(phone)s") % {"phone": _phone(agency.phone)}
    return contact


def desk_supplement_context(
    *,
    procedure_version: ProcedureVersion,
    agency: Agency,
    applicant: dict,
    missing_documents: Iterable[str],
    reasons: Iterable[str] = (),
    actor=None,
    at: datetime | None = None,
) -> dict:
    """Mẫu 02 at the desk, before any dossier exists: an incomplete dossier is not received
    and the clerk lists everything missing at once (DOMAIN.md). No code is printed."""
    at = at or timezone.now()
    unit = (
        Unit.objects.filter(agency=agency, is_reception=True, is_active=True)
        .order_by("code").first()
    )
    desk = unit.name if unit else _("Bộ phận tiếp nhận và trả kết quả")
    missing = _texts(list(missing_documents))
    _require(missing, _("Phiếu yêu cầu bổ sung phải nêu ít nhất một giấy tờ, nội dung cần bổ sung."))
    person = {
        "name": applicant.get("name", ""),
        "id_label": _("Số hộ chiếu") if applicant.get("id_type") == IdType.PASSPORT
        else _("Số định danh cá nhân"),
        "id_number": applicant.get("id_number", ""),
        "address": applicant.get("address", ""),
        "phone": applicant.get("phone", ""),
        "email": applicant.get("email", ""),
    }
    return {
        **header(agency, doc_date=at),
        "form": "02",
        "title": _("Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ"),
        "code": "",
        "applicant": person,
        "procedure": _procedure(procedure_version),
        "received": "",
        "missing": missing,
        "reasons": _texts(list(reasons)),
        "asked_by": ", ".join(p for p in (person_name(actor), desk) if p),
        "asked_at": vn_moment(at),
        "clock_rule": "",
        "contact": _desk_contact(desk, agency),
        "signatures": [Signatory([_("Người hướng dẫn")], name=person_name(actor))],
    }


def render_desk_supplement(**kwargs) -> bytes:
    """Mẫu 02 at the desk (arguments of :func:`desk_supplement_context`) as PDF bytes."""
    with translation.override("vi"):  # official forms are Vietnamese whatever the UI language
        return render_pdf("pdf/supplement.html", desk_supplement_context(**kwargs))


# ---------------------------------------------------------------------------------------------
# Mẫu 03 — Phiếu từ chối tiếp nhận giải quyết hồ sơ
# ---------------------------------------------------------------------------------------------


def refusal_context(dossier: Dossier) -> dict:
    """Mẫu 03: the desk's written reasons for not receiving an online submission."""
    events = _events(dossier)
    event = _last(events, Transition.REFUSE)
    _require(
        dossier.state == State.REFUSED and event is not None,
        _("Hồ sơ %(code)s không bị từ chối tiếp nhận (trạng thái “%(state)s”) nên không có "
          "Phiếu từ chối tiếp nhận giải quyết hồ sơ.")
        % {"code": dossier.code, "state": dossier.get_state_display()},
    )
    desk, desk_agency = _desk(dossier, _steps(dossier))
    reasons = _texts((event.data or {}).get("reasons")) or _texts(event.comment)
    return {
        **header(dossier.agency, doc_date=event.at, code=dossier.code),
        "form": "03",
        "title": _("Phiếu từ chối tiếp nhận giải quyết hồ sơ"),
        "code": dossier.code,
        "desk": desk,
        "desk_agency": desk_agency.name,
        "applicant": _applicant(dossier),
        "procedure": _procedure(dossier.procedure_version),
        "channel": Channel(dossier.channel).label,
        "submitted": vn_moment(dossier.submitted_at),
        "reasons": reasons,
        "refused_at": vn_moment(event.at),
        "signatures": [Signatory([_("Người tiếp nhận hồ sơ")], name=person_name(event.actor))],
    }


# ---------------------------------------------------------------------------------------------
# Mẫu 04 — Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết
# ---------------------------------------------------------------------------------------------


def _at_fault_text(dossier: Dossier, at_fault) -> str:
    if at_fault is None:
        return ""
    if isinstance(at_fault, DossierStep):
        return _("bước “%(step)s”, %(unit)s") % {
            "step": at_fault.name, "unit": _unit_label(at_fault, dossier)
        }
    if isinstance(at_fault, Unit):
        if at_fault.agency_id != dossier.agency_id:
            return f"{at_fault.name} – {at_fault.agency.name}"
        return at_fault.name
    if isinstance(at_fault, Agency):
        return at_fault.name
    return str(at_fault).strip()


def _at_fault_recipient(dossier: Dossier, at_fault) -> str:
    """The unit at fault, among the letter's recipients (a step: its unit)."""
    if isinstance(at_fault, DossierStep):
        return _unit_label(at_fault, dossier)
    return _at_fault_text(dossier, at_fault)


def apology_context(
    dossier: Dossier,
    at_fault_unit_or_step,
    new_due_at: datetime,
    reason: str,
    *,
    issued_at: datetime | None = None,
    previous_due_at: datetime | None = None,
    signer=None,
    signer_title: str | None = None,
    doc_number: str = "",
) -> dict:
    """Mẫu 04: the agency apologises for a missed (or about to be missed) appointment, names
    the step or unit at fault and the reason, and proposes a new appointment.

    ``previous_due_at``: the appointment apologised for (default: the dossier's current one —
    pass it when ``due_at`` has already been moved to ``new_due_at``). Issued before that
    appointment, the letter says the result will not be ready in time; after it, that it was
    not. ``signer``: the leader who signs (else the authority is printed without a name).
    The number is left for the agency's register unless ``doc_number`` is given.
    """
    _received(dossier, _("Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết"))
    _require(new_due_at is not None, _("Văn bản xin lỗi phải có thời gian hẹn trả kết quả mới."))
    issued_at = issued_at or timezone.now()
    previous = previous_due_at or dossier.due_at
    if previous is not None and new_due_at is not None and previous == new_due_at:
        previous = dossier.original_due_at if dossier.original_due_at != new_due_at else previous
    agency = dossier.agency
    return {
        **header(agency, doc_date=issued_at, doc_number=doc_number),
        "form": "04",
        "title": _("Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết hồ sơ"),
        "code": dossier.code,
        "agency_full": agency.name,
        "applicant": _applicant(dossier),
        "procedure": _procedure(dossier.procedure_version),
        "received": vn_moment(dossier.received_at),
        "received_date": vn_date(dossier.received_at),
        "previous_due": vn_moment(previous),
        "already_late": previous is not None and issued_at >= previous,
        "new_due": vn_moment(new_due_at),
        "at_fault": _at_fault_text(dossier, at_fault_unit_or_step),
        "reason": (reason or "").strip(),
        "recipients": [
            _("Như trên"),
            _("Bộ phận tiếp nhận và trả kết quả"),
            _at_fault_recipient(dossier, at_fault_unit_or_step),
            _("Lưu: VT"),
        ],
        "signatures": [leader_signatory(agency, signer, title=signer_title)],
    }


def _recorded_apology(dossier: Dossier, *, apology=None, **options) -> dict:
    """Mẫu 04 of a letter issued (``dossiers.models.Apology``): the one given (an instance or
    its number in the dossier, ``?number=`` on the views), else the latest; re-printed from the
    row, so it reads the same every time. Without letters, the latest ``apology`` event (older
    data); ``new_due_at`` and friends in ``options`` print a letter not recorded at all."""
    if "new_due_at" in options:
        return apology_context(
            dossier, options.pop("at_fault_unit_or_step", None), options.pop("new_due_at"),
            options.pop("reason", ""), **options,
        )
    letter = _apology_row(dossier, apology)
    if letter is not None:
        at_fault = letter.at_fault_step or letter.at_fault_unit or ""
        return apology_context(
            dossier, at_fault, letter.new_due_at, letter.reason, issued_at=letter.issued_at,
            previous_due_at=letter.for_due_at, signer=letter.issued_by, **options,
        )
    event = _last(_events(dossier), APOLOGY_EVENT)
    _require(
        event is not None,
        _("Hồ sơ %(code)s chưa có văn bản xin lỗi và đề nghị gia hạn nào.") % {"code": dossier.code},
    )
    data = event.data or {}
    steps = {s.pk: s for s in _steps(dossier)}
    at_fault = steps.get(data.get("step")) or data.get("at_fault") or ""
    if not at_fault and data.get("unit"):
        at_fault = Unit.objects.select_related("agency").filter(pk=data["unit"]).first() or ""
    return apology_context(
        dossier, at_fault, _parse_moment(data.get("new_due_at")),
        data.get("reason") or event.comment, issued_at=event.at,
        previous_due_at=_parse_moment(data.get("previous_due_at")),
        signer=event.actor, doc_number=data.get("number", ""),
    )


def _apology_row(dossier: Dossier, apology):
    """The letter asked for (instance or number), the latest one, or None when there is none."""
    from dossiers.models import Apology

    letters = Apology.objects.filter(dossier=dossier).select_related(
        "at_fault_step__unit__agency", "at_fault_step__agency", "at_fault_unit__agency",
        "issued_by",
    )
    if isinstance(apology, Apology):
        _require(apology.dossier_id == dossier.pk, _("Văn bản xin lỗi không thuộc hồ sơ này."))
        return letters.get(pk=apology.pk)
    if apology not in (None, ""):
        letter = letters.filter(number=apology_number(apology)).first()
        _require(
            letter is not None,
            _("Hồ sơ %(code)s không có văn bản xin lỗi số %(number)s.")
            % {"code": dossier.code, "number": apology},
        )
        return letter
    return letters.order_by("-number").first()


def apology_number(value) -> int:
    """A letter's number in its dossier from a query string (``?number=2``)."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise ValidationError(
            _("Số thứ tự văn bản xin lỗi không hợp lệ: “%(value)s”.") % {"value": value},
            code="invalid", errors={"number": [_("Phải là số nguyên dương.")]},
        )
    return number


def document_options(kind: str, query) -> dict:
    """The options a form's URL may carry: ``apology.pdf?number=N`` picks that letter (default:
    the latest). Anything else in the query string is ignored."""
    if kind == "apology" and query.get("number") not in (None, ""):
        return {"apology": apology_number(query.get("number"))}
    return {}


# ---------------------------------------------------------------------------------------------
# Mẫu 05 — Thông báo dừng giải quyết hồ sơ
# ---------------------------------------------------------------------------------------------


def stop_notice_context(dossier: Dossier) -> dict:
    """Mẫu 05: the agency stops processing on legal grounds, signed by its leader."""
    event = _last(_events(dossier), Transition.STOP)
    _require(
        dossier.state == State.STOPPED and event is not None,
        _("Hồ sơ %(code)s không bị dừng giải quyết (trạng thái “%(state)s”) nên không có "
          "Thông báo dừng giải quyết hồ sơ.")
        % {"code": dossier.code, "state": dossier.get_state_display()},
    )
    data = event.data or {}
    legal_basis = (data.get("legal_basis") or "").strip().rstrip(".;,")
    comment = (event.comment or "").strip()
    reason = comment if comment and comment.rstrip(".;,") != legal_basis else ""
    steps = _steps(dossier)
    desk, desk_agency = _desk(dossier, steps, last=True)
    agency = dossier.agency
    return {
        **header(agency, doc_date=event.at),
        "form": "05",
        "title": _("Thông báo"),
        "subtitle": _("Về việc dừng giải quyết hồ sơ"),
        "code": dossier.code,
        "agency_full": agency.name,
        "applicant": _applicant(dossier),
        "procedure": _procedure(dossier.procedure_version),
        "received_date": vn_date(dossier.received_at),
        "due": vn_moment(dossier.due_at),
        "stopped_at": vn_moment(event.at),
        "legal_basis": legal_basis,
        "reason": reason,
        "desk": desk,
        "desk_agency": desk_agency.name,
        "desk_contact": _contact(desk_agency),
        "recipients": [_("Như trên"), _("Bộ phận tiếp nhận và trả kết quả"), _("Lưu: VT")],
        "signatures": [leader_signatory(agency, event.actor)],
    }


# ---------------------------------------------------------------------------------------------
# Mẫu 06 — Phiếu kiểm soát quá trình giải quyết hồ sơ
# ---------------------------------------------------------------------------------------------

EARLY, ON_TIME, LATE = (
    gettext_lazy("Trước hạn"), gettext_lazy("Đúng hạn"), gettext_lazy("Quá hạn")
)
_TIMELINESS = {"early": EARLY, "on_time": ON_TIME, "late": LATE}
_HANDOVERS = {
    Transition.START, Transition.FORWARD, Transition.SUBMIT_FOR_APPROVAL, Transition.APPROVE,
    Transition.DENY, Transition.SEND_BACK,
}


def step_timeliness(step: DossierStep | None) -> str:
    """Early / on time / late for a finished step against its own deadline, with the rule the
    dossier uses (``Dossier.timeliness``): late after the deadline, early on an earlier day."""
    if step is None or step.finished_at is None or step.due_at is None:
        return ""
    if step.finished_at > step.due_at:
        return LATE
    if _local(step.finished_at).date() < _local(step.due_at).date():
        return EARLY
    return ON_TIME


@dataclass
class HandOver:
    """One row of Mẫu 06: who handed the dossier to whom (unit, step, person), when, and how
    the step handed over stood against its deadline."""

    giver: str
    giver_person: str
    receiver: str
    receiver_person: str
    moment: datetime
    result: str = ""
    notes: list[str] = field(default_factory=list)
    giver_step: str = ""
    receiver_step: str = ""

    @property
    def time(self) -> str:
        return vn_time(self.moment)

    @property
    def date(self) -> str:
        return vn_date(self.moment)


def _step_of(ref, steps: dict[int, DossierStep]) -> DossierStep | None:
    if isinstance(ref, dict):
        return steps.get(ref.get("step"))
    return None


def control_sheet_context(dossier: Dossier, *, printed_at: datetime | None = None) -> dict:
    """Mẫu 06: the header of the dossier, then every hand-over of the log — from whom to whom,
    at what hour and date, and whether the step handed over was early, on time or late."""
    _received(dossier, _("Phiếu kiểm soát quá trình giải quyết hồ sơ"))
    printed_at = printed_at or timezone.now()
    events = _events(dossier)
    step_list = _steps(dossier)
    steps = {s.pk: s for s in step_list}
    citizen = _("Người nộp hồ sơ")
    desk, _desk_agency = _desk(dossier, step_list)
    rows: list[HandOver] = []
    for event in events:
        data = event.data or {}
        actor = person_name(event.actor)
        name = event.transition
        if name == Transition.RECEIVE:
            reception = event.step
            rows.append(HandOver(
                giver=citizen, giver_person=dossier.applicant_name,
                receiver=_unit_label(reception, dossier) or desk,
                receiver_person=actor, moment=event.at,
                notes=[_("Tiếp nhận hồ sơ (%(channel)s)") % {
                    "channel": str(Channel(dossier.channel).label).lower()}],
            ))
        elif name in _HANDOVERS:
            source = event.step or _step_of(data.get("from"), steps)
            target = _step_of(data.get("to"), steps)
            notes = []
            if name == Transition.SEND_BACK:
                notes.append(_("Trả lại để xử lý lại"))
            elif name == Transition.DENY:
                notes.append(_("Từ chối giải quyết"))
            elif name == Transition.APPROVE:
                notes.append(_("Đã phê duyệt"))
            if data.get("inter_agency"):
                notes.append(_("Liên thông"))
            if event.comment:
                notes.append(event.comment)
            rows.append(HandOver(
                giver=_unit_label(source, dossier), giver_person=actor,
                giver_step=source.name if source is not None else "",
                receiver=_unit_label(target, dossier),
                receiver_person=person_name(target.handler) if target is not None else "",
                receiver_step=target.name if target is not None else "",
                moment=event.at, result=step_timeliness(source), notes=notes,
            ))
        elif name == Transition.REQUEST_SUPPLEMENT:
            missing = _texts(data.get("missing_documents")) or _texts(data.get("reasons"))
            notes = [_("Yêu cầu bổ sung, hoàn thiện hồ sơ (tạm dừng tính thời gian)")]
            if missing:
                notes.append(_("Cần bổ sung: %(items)s") % {"items": "; ".join(missing)})
            if data.get("counts_late"):
                notes.append(_("Yêu cầu bổ sung lần thứ hai: tính là trễ hạn"))
            rows.append(HandOver(
                giver=_unit_label(event.step, dossier), giver_person=actor,
                giver_step=event.step.name if event.step is not None else "",
                receiver=citizen, receiver_person=dossier.applicant_name,
                moment=event.at, notes=notes,
            ))
        elif name == Transition.SUPPLEMENT:
            due = _parse_moment(data.get("due_at"))
            notes = [_("Nhận hồ sơ bổ sung")]
            if due is not None:
                notes.append(_("Hẹn trả kết quả mới: %(due)s") % {"due": vn_moment(due)})
            rows.append(HandOver(
                giver=citizen, giver_person=dossier.applicant_name,
                receiver=desk, receiver_person=actor, moment=event.at, notes=notes,
            ))
        elif name == Transition.RETURN_RESULT:
            outcome = data.get("outcome") or dossier.outcome
            notes = [
                _("Trả văn bản từ chối giải quyết") if outcome == Outcome.DENIED
                else _("Trả kết quả giải quyết")
            ]
            rows.append(HandOver(
                giver=_unit_label(event.step, dossier) or desk,
                giver_person=actor, receiver=citizen, receiver_person=dossier.applicant_name,
                moment=event.at,
                result=_TIMELINESS.get(data.get("timeliness") or dossier.timeliness or "", ""),
                notes=notes,
            ))
        elif name in (Transition.STOP, Transition.WITHDRAW, APOLOGY_EVENT):
            label = {
                Transition.STOP: _("Dừng giải quyết hồ sơ"),
                Transition.WITHDRAW: _("Công dân rút hồ sơ"),
                APOLOGY_EVENT: _("Văn bản xin lỗi, hẹn lại ngày trả kết quả"),
            }[name]
            detail = data.get("legal_basis") or data.get("reason") or event.comment
            rows.append(HandOver(
                giver=_unit_label(event.step, dossier) or dossier.agency.name, giver_person=actor,
                receiver=citizen, receiver_person=dossier.applicant_name,
                moment=event.at, notes=[label, *([detail] if detail else [])],
            ))
        # Assignments (EventKind.ASSIGN) are no hand-over: the assigned officer shows as the
        # receiver of the step. Attachments are not either.
    units = []
    partners = []
    for step in step_list:
        if step.role == Role.CLERK:
            continue
        if step.agency_id == dossier.agency_id:
            if step.unit.name not in units:
                units.append(step.unit.name)
        elif step.agency.name not in partners:
            partners.append(step.agency.name)
    due_changed = (
        dossier.original_due_at is not None and dossier.due_at is not None
        and dossier.original_due_at != dossier.due_at
    )
    return {
        **header(dossier.agency, doc_date=printed_at, code=dossier.code),
        "hide_number": True,  # the form prints the code under its title
        "form": "06",
        "title": _("Phiếu kiểm soát quá trình giải quyết hồ sơ"),
        "code": dossier.code,
        "applicant": _applicant(dossier),
        "procedure": _procedure(dossier.procedure_version),
        "agency_full": dossier.agency.name,
        "units": ", ".join(units),
        "partners": ", ".join(partners),
        "time_limit": time_limit_text(dossier.procedure_version, dossier.channel),
        "received": vn_moment(dossier.received_at),
        "due": vn_moment(dossier.due_at),
        "original_due": vn_moment(dossier.original_due_at) if due_changed else "",
        "state": dossier.get_state_display(),
        "timeliness": _TIMELINESS.get(dossier.timeliness or "", ""),
        "rows": rows,
        "printed_at": vn_moment(printed_at),
    }


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentKind:
    template: str
    build: Callable[..., dict]
    label: str


KINDS: dict[str, DocumentKind] = {
    "receipt": DocumentKind("pdf/receipt.html", receipt_context, "Mẫu 01"),
    "supplement": DocumentKind("pdf/supplement.html", supplement_context, "Mẫu 02"),
    "refusal": DocumentKind("pdf/refusal.html", refusal_context, "Mẫu 03"),
    "apology": DocumentKind("pdf/apology.html", _recorded_apology, "Mẫu 04"),
    "stop-notice": DocumentKind("pdf/stop_notice.html", stop_notice_context, "Mẫu 05"),
    "control-sheet": DocumentKind("pdf/control_sheet.html", control_sheet_context, "Mẫu 06"),
}
#: For URL patterns: ``(?P<kind>{KIND_PATTERN})\.pdf``.
KIND_PATTERN = "|".join(re.escape(k) for k in KINDS)


def render_dossier_document(*, dossier: Dossier, kind: str, **options) -> bytes:
    """The PDF of form ``kind`` for ``dossier``. Raises :class:`DocumentNotApplicable` when the
    dossier's state or history has no such document; ``ValidationError`` for an unknown kind.
    ``options`` go to the context builder (``apology``: ``apology`` — a letter or its number,
    default the latest — or ``at_fault_unit_or_step``, ``new_due_at``, ``reason``, … for a
    letter not recorded; ``control-sheet``: ``printed_at``)."""
    spec = KINDS.get(kind)
    if spec is None:
        raise ValidationError(
            _("Loại văn bản không hợp lệ: “%(kind)s”.") % {"kind": kind},
            code="unknown_document", errors={"kind": list(KINDS)},
        )
    with translation.override("vi"):  # official forms are Vietnamese whatever the UI language
        return render_pdf(spec.template, spec.build(dossier, **options))


def document_filename(dossier: Dossier, kind: str) -> str:
    return f"{dossier.code}-{kind}.pdf"


def pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    """PDF bytes shown in the browser (inline), never cached by shared caches: personal data."""
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(False, filename)
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_safe
def dossier_document(request, code: str, kind: str) -> HttpResponse:
    """``/staff/dossiers/<code>/documents/<kind>.pdf``: the form as PDF for staff who may see
    the dossier (404 for anyone else, as for an unknown code)."""
    from dossiers.selectors import dossier_get

    if kind not in KINDS:
        raise Http404("Không có loại văn bản này.")
    dossier = dossier_get(code=code, user=request.user)
    options = document_options(kind, request.GET)
    try:
        pdf = render_dossier_document(dossier=dossier, kind=kind, **options)
    except DomainError as exc:
        return HttpResponse(
            str(exc.message), status=exc.status, content_type="text/plain; charset=utf-8"
        )
    filename = document_filename(dossier, kind)
    if options.get("apology"):  # one letter of several: the API's name for it
        filename = f"{dossier.code}-apology-{options['apology']}.pdf"
    from audit.services import access_record_document

    access_record_document(request=request, dossier=dossier, kind=kind,
                           number=options.get("apology"))
    return pdf_response(pdf, filename)
