"""Reception: at the desk (the dossier is born ``received``) and online (born ``submitted``,
received later by the ``receive`` transition). Both share the checks and the set-up here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from dossiers import codes, permissions
from dossiers.models import (
    Attachment,
    Dossier,
    DossierDocument,
    DossierStep,
    EventKind,
    State,
    Transition,
)
from dossiers.services._common import (
    Plan,
    append_event,
    appointment,
    batched_inserts,
    check_channel,
    fast_sql,
    from_row,
    insert_rows,
    select_columns,
    set_current,
)
from dossiers.validators import Applicant, CheckedUpload, check_upload, clean_applicant, clean_text
from motcua import calendar
from motcua.db import execute_prepared
from motcua.errors import PermissionDenied, ValidationError
from motcua.models import Agency, Role, Unit
from motcua.text import fold
from procedures.models import Channel, Level, Procedure, ProcedureVersion
from procedures.selectors import PlanStep, VersionPlan, procedure_version_plan

__all__ = [
    "checklist_missing",
    "dossier_appointment",
    "dossier_receive_at_desk",
    "dossier_submit_online",
]

DESK_CHANNELS = (Channel.IN_PERSON, Channel.POST)
# A receipt may be back-dated a little (a clerk finishing the form); never dated in the future.
_CLOCK_SKEW = timedelta(minutes=5)


# ---------------------------------------------------------------------------------------------
# Public services
# ---------------------------------------------------------------------------------------------


def dossier_receive_at_desk(
    *,
    procedure_version: ProcedureVersion | None = None,
    procedure: Procedure | str | None = None,
    agency: Agency | str | None = None,
    channel: str = Channel.IN_PERSON,
    applicant: dict,
    documents: Iterable | None = None,
    attachments: Iterable = (),
    actor,
    received_at: datetime | None = None,
) -> Dossier:
    """Receive a complete dossier at the desk: it gets its code and its appointment at once.

    Rules: the procedure is active and accepts the channel (in person or by post; online
    submissions come through :func:`dossier_submit_online`); the actor is a clerk of the
    receiving agency's desk or of a service center; every mandatory document is there (an
    incomplete dossier is not received: the desk gives the supplement slip instead, see
    :func:`checklist_missing`); the internal process resolves to existing units. All or
    nothing: a refused reception stores nothing and takes no number.

    ``documents``: ``None`` = every mandatory document of the procedure received; otherwise
    the checklist, items being required-document ids or dicts ``{"required_document": id,
    "received": bool, "originals": n, "copies": n}`` / ``{"name": "...", ...}`` for papers
    outside the list. ``attachments``: files (scans), checked by content and size.
    """
    version = _resolve_version(procedure_version=procedure_version, procedure=procedure)
    check_channel(version, channel)
    if channel not in DESK_CHANNELS:
        raise ValidationError(
            _("Hồ sơ nộp trực tuyến được tiếp nhận từ danh sách hồ sơ trực tuyến, không nhập tại quầy."),
            code="channel_not_accepted", errors={"channel": [_("Chọn nộp trực tiếp hoặc bưu chính.")]},
        )
    agency = _resolve_agency(version, agency, actor)
    if not permissions.can_receive_for(actor, agency):
        raise PermissionDenied(
            _("Chỉ cán bộ bộ phận một cửa của %(agency)s được tiếp nhận hồ sơ này.")
            % {"agency": agency.name}
        )
    person = clean_applicant(applicant)
    plan = procedure_version_plan(version=version)
    checklist = _checklist(plan, documents, enforce=True)
    uploads = [(f, check_upload(f)) for f in attachments]
    process = _resolve_process(version, plan, agency)
    now = timezone.now()
    received_at = _check_moment(received_at, now)
    clock_started_at, due_at = appointment(
        version=version, channel=channel, received_at=received_at, plan=plan
    )

    stored: list[Attachment] = []
    try:
        with transaction.atomic():
            # The number first and the dossier's id with it (one statement); the counter row
            # stays locked until commit, and what follows is only inserts.
            code, dossier_id, step_ids, event_id = codes.next_code_and_id(
                agency=agency, received_at=received_at, steps=len(process)
            )
            dossier = Dossier(
                id=dossier_id, code=code, procedure_version=version, agency=agency,
                channel=channel, state=State.RECEIVED, submitted_at=received_at,
                received_at=received_at, clock_started_at=clock_started_at, due_at=due_at,
                original_due_at=due_at, **_applicant_fields(person),
            )
            _store_uploads(dossier, uploads, kind=Attachment.Kind.SCAN, actor=actor, into=stored)
            # Every id is known: the steps, the dossier, its checklist, the event and its
            # messages go to the database together (one round trip).
            with batched_inserts():
                reception = _insert_received(
                    dossier, process, actor=actor, at=clock_started_at, step_ids=step_ids
                )
                _save_checklist(dossier, checklist)
                append_event(
                    dossier=dossier, at=now, actor=actor, transition=Transition.RECEIVE,
                    from_state="", to_state=State.RECEIVED, step=reception,
                    data=_reception_data(dossier, checklist, stored, desk=True),
                    event_id=event_id,
                )
    except BaseException:
        _discard_files(stored)
        raise
    return dossier


def dossier_submit_online(
    *,
    procedure_version: ProcedureVersion | None = None,
    procedure: Procedure | str | None = None,
    agency: Agency | str | None = None,
    applicant: dict,
    documents: Iterable | None = None,
    attachments: Iterable = (),
    submitted_at: datetime | None = None,
) -> Dossier:
    """An online submission (the public endpoint): stored ``submitted`` with a provisional code
    until the desk receives (``receive``) or refuses (``refuse``) it. No clock runs yet.

    Rules: the procedure is active and accepts online submission; a commune-level procedure
    names the commune (``agency``). The checklist is what the citizen declares.
    """
    version = _resolve_version(procedure_version=procedure_version, procedure=procedure)
    check_channel(version, Channel.ONLINE)
    agency = _resolve_agency(version, agency, None)
    person = clean_applicant(applicant)
    checklist = _checklist(procedure_version_plan(version=version), documents, enforce=False)
    uploads = [(f, check_upload(f)) for f in attachments]
    now = timezone.now()
    submitted_at = _check_moment(submitted_at, now)
    code = codes.provisional_code(submitted_at=submitted_at)

    stored: list[Attachment] = []
    try:
        with transaction.atomic():
            dossier = Dossier(
                code=code, provisional_code=code, procedure_version=version, agency=agency,
                channel=Channel.ONLINE, state=State.SUBMITTED, submitted_at=submitted_at,
                **_applicant_fields(person),
            )
            dossier.save(force_insert=True)
            _save_checklist(dossier, checklist)
            _store_uploads(dossier, uploads, kind=Attachment.Kind.UPLOAD, actor=None, into=stored)
            append_event(
                dossier=dossier, at=now, actor=None, transition=EventKind.SUBMIT,
                from_state="", to_state=State.SUBMITTED,
                data={"channel": Channel.ONLINE, "attachments": len(stored)},
            )
    except BaseException:
        _discard_files(stored)
        raise
    return dossier


def dossier_appointment(
    *, procedure_version: ProcedureVersion, channel: str, received_at: datetime | None = None
) -> datetime:
    """The appointment a dossier would get if received now (the desk shows it before the
    clerk confirms)."""
    _, due_at = appointment(
        version=procedure_version, channel=channel, received_at=received_at or timezone.now(),
        plan=procedure_version_plan(version=procedure_version),
    )
    return due_at


def checklist_missing(*, procedure_version: ProcedureVersion, documents: Iterable | None) -> list[str]:
    """Names of the mandatory documents missing from ``documents`` (same shape as for
    reception): what the supplement slip lists when the desk cannot receive."""
    plan = procedure_version_plan(version=procedure_version)
    rows = _checklist(plan, documents, enforce=False)
    return [row.name for row, mandatory in rows if mandatory and not row.received]


# ---------------------------------------------------------------------------------------------
# Used by the ``receive`` transition (an online submission reaching the desk)
# ---------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    checklist: list
    process: list
    plan: VersionPlan


def prepare_receipt(dossier: Dossier, documents) -> Prepared:
    """Everything that can fail before anything is written."""
    version = dossier.procedure_version
    plan = procedure_version_plan(version=version)
    return Prepared(
        checklist=_checklist(plan, documents, enforce=True),
        process=_resolve_process(version, plan, dossier.agency),
        plan=plan,
    )


def receive_submitted(dossier: Dossier, prepared: Prepared, *, actor, now: datetime) -> tuple[DossierStep | None, dict]:
    """Give a submitted dossier its code, appointment and process (inside the transaction; the
    caller saves the dossier, its current step included)."""
    clock_started_at, due_at = appointment(
        version=dossier.procedure_version, channel=dossier.channel, received_at=now,
        plan=prepared.plan,
    )
    dossier.code = codes.next_code(agency=dossier.agency, received_at=now)
    dossier.received_at = now
    dossier.clock_started_at = clock_started_at
    dossier.due_at = dossier.original_due_at = due_at
    steps, reception = _new_steps(dossier, prepared.process, actor=actor, at=clock_started_at)
    DossierStep.objects.bulk_create(steps)
    set_current(dossier, reception)
    DossierDocument.objects.filter(dossier=dossier).delete()
    _save_checklist(dossier, prepared.checklist)
    return reception, _reception_data(dossier, prepared.checklist, [], desk=False)


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _resolve_version(*, procedure_version, procedure) -> ProcedureVersion:
    if procedure_version is not None:
        version = procedure_version
        proc = version.procedure
        if proc.current_version_id != version.pk:
            raise ValidationError(
                _("Thủ tục “%(code)s” đã có phiên bản mới; vui lòng tải lại và tiếp nhận theo phiên bản hiện hành.")
                % {"code": proc.code},
                code="procedure_version_outdated",
            )
    else:
        code = procedure.code if isinstance(procedure, Procedure) else procedure
        code = code.strip() if isinstance(code, str) else ""
        # One query in the usual case: the current version with its procedure and agency.
        version = _current_version(code) if code else None
        if version is None:
            proc = Procedure.objects.filter(code=code).first() if code else None
            if proc is not None:
                raise _inactive(proc)
            message = (
                _("Không tìm thấy thủ tục hành chính có mã “%(code)s”.") % {"code": code}
                if code else _("Vui lòng chọn thủ tục hành chính.")
            )
            raise ValidationError(message, code="unknown_procedure", errors={"procedure": [message]})
    if not version.procedure.is_active:
        raise _inactive(version.procedure)
    return version


#: What a reception never reads of a version (long texts of the catalogue): left deferred.
_VERSION_TEXTS = (
    "agency_text", "subjects", "time_limit_text", "procedure_steps_text", "requirements",
    "result", "legal_basis", "source", "search_text",
)


def _current_version(code: str) -> ProcedureVersion | None:
    """The current version of the procedure ``code`` with its procedure and agency, or None."""
    if not fast_sql():
        return (
            ProcedureVersion.objects.select_related("procedure", "agency")
            .filter(procedure__code=code, procedure__current_version=F("pk"))
            .first()
        )
    v_names, v_cols = select_columns(ProcedureVersion, "v", _VERSION_TEXTS)
    p_names, p_cols = select_columns(Procedure, "p")
    a_names, a_cols = select_columns(Agency, "a")
    with connection.cursor() as cursor:
        execute_prepared(
            cursor, "motcua_reception_version",
            f"SELECT {v_cols}, {p_cols}, {a_cols} FROM procedures_procedure p "
            "JOIN procedures_procedureversion v ON v.id = p.current_version_id "
            "LEFT JOIN motcua_agency a ON a.id = v.agency_id WHERE p.code = %s",
            [code],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    version, at = from_row(ProcedureVersion, v_names, row, 0)
    version.procedure, at = from_row(Procedure, p_names, row, at)
    agency, _end = from_row(Agency, a_names, row, at)
    version.agency = agency if version.agency_id else None
    return version


def _inactive(proc: Procedure) -> ValidationError:
    message = _("Thủ tục “%(code)s” hiện không áp dụng, không thể tiếp nhận hồ sơ.") % {
        "code": proc.code
    }
    return ValidationError(message, code="procedure_inactive", errors={"procedure": [message]})


def _resolve_agency(version: ProcedureVersion, agency, actor) -> Agency:
    if isinstance(agency, str):
        code = agency.strip()
        if version.agency_id and code == version.agency.code:
            agency = version.agency  # read with the version already
        else:
            agency = _agency_by_code(code) if code else None
        if agency is None and code:
            message = _("Không tìm thấy cơ quan có mã “%(code)s”.") % {"code": code}
            raise ValidationError(message, code="unknown_agency", errors={"agency": [message]})
    if version.agency_id:
        if agency is not None and agency.pk != version.agency_id:
            message = _("Thủ tục này do %(competent)s giải quyết, không phải %(given)s.") % {
                "competent": version.agency.name, "given": agency.name,
            }
            raise ValidationError(message, code="wrong_agency", errors={"agency": [message]})
        agency = version.agency
    elif agency is None and actor is not None:
        staff = permissions.staff_of(actor)
        own = Agency.objects.filter(
            pk__in=staff.reception_agencies, is_active=True
        ).exclude(kind=Agency.Kind.CENTER)
        if version.level == Level.COMMUNE:
            own = own.filter(kind=Agency.Kind.COMMUNE)
        candidates = list(own[:2])
        agency = candidates[0] if len(candidates) == 1 else None
    if agency is None:
        message = _("Vui lòng chọn cơ quan tiếp nhận hồ sơ (UBND xã, phường, đặc khu).")
        raise ValidationError(message, code="agency_required", errors={"agency": [message]})
    if version.level == Level.COMMUNE and not version.agency_id and agency.kind != Agency.Kind.COMMUNE:
        message = _("Thủ tục cấp xã chỉ do UBND xã, phường, đặc khu tiếp nhận.")
        raise ValidationError(message, code="wrong_agency", errors={"agency": [message]})
    if not agency.is_active:
        message = _("Cơ quan %(agency)s không còn hoạt động.") % {"agency": agency.name}
        raise ValidationError(message, code="wrong_agency", errors={"agency": [message]})
    return agency


def _agency_by_code(code: str) -> Agency | None:
    if not fast_sql():
        return Agency.objects.filter(code=code).first()
    names, columns = select_columns(Agency, "a")
    with connection.cursor() as cursor:
        execute_prepared(cursor, "motcua_reception_agency",
                         f"SELECT {columns} FROM motcua_agency a WHERE a.code = %s", [code])
        row = cursor.fetchone()
    return None if row is None else from_row(Agency, names, row, 0)[0]


def _check_moment(moment: datetime | None, now: datetime) -> datetime:
    if moment is None:
        return now
    if timezone.is_naive(moment):
        raise ValidationError(_("Thời điểm tiếp nhận phải có múi giờ."))
    if moment > now + _CLOCK_SKEW:
        raise ValidationError(_("Thời điểm tiếp nhận không được ở tương lai."))
    return moment


def _checklist(plan: VersionPlan, documents, *, enforce: bool) -> list[tuple[DossierDocument, bool]]:
    """Unsaved checklist rows, each with whether the document is mandatory."""
    required = plan.documents
    by_id = {doc.id: doc for doc in required}
    if documents is None:
        given = {doc.id: {"received": doc.is_mandatory} for doc in required}
        extras = []
    else:
        given, extras = {}, []
        for item in documents:
            if isinstance(item, int) and not isinstance(item, bool):
                item = {"required_document": item}
            if not isinstance(item, dict):
                raise ValidationError(_("Danh mục giấy tờ không hợp lệ."), code="invalid_documents")
            doc_id = item.get("required_document")
            if doc_id is None:
                name = clean_text(item.get("name"), label=_("Tên giấy tờ"), max_length=1000, required=True)
                extras.append({**item, "name": name})
                continue
            if doc_id not in by_id:
                message = _("Giấy tờ số %(id)s không thuộc thành phần hồ sơ của thủ tục này.") % {"id": doc_id}
                raise ValidationError(message, code="invalid_documents", errors={"documents": [message]})
            given[doc_id] = item
    rows = []
    for position, doc in enumerate(required, start=1):
        item = given.get(doc.id)
        received = bool(item.get("received", True)) if item is not None else False
        rows.append((
            DossierDocument(
                required_document_id=doc.id, position=position, name=doc.name, received=received,
                originals=_count(item, "originals", doc.originals if received else 0),
                copies=_count(item, "copies", doc.copies if received else 0),
            ),
            doc.is_mandatory,
        ))
    for offset, item in enumerate(extras, start=len(required) + 1):
        received = bool(item.get("received", True))
        rows.append((
            DossierDocument(
                position=offset, name=item["name"], received=received,
                originals=_count(item, "originals", 1 if received else 0),
                copies=_count(item, "copies", 0),
            ),
            False,
        ))
    if enforce:
        missing = [row.name for row, mandatory in rows if mandatory and not row.received]
        if missing:
            listed = "; ".join(f"{i}) {name}" for i, name in enumerate(missing, start=1))
            raise ValidationError(
                _(
                    "Hồ sơ chưa đủ thành phần nên chưa tiếp nhận; lập Phiếu yêu cầu bổ sung, hoàn "
                    "thiện hồ sơ. Còn thiếu: %(missing)s"
                ) % {"missing": listed},
                code="incomplete_dossier", errors={"documents": missing},
            )
    return rows


def _count(item, key: str, default: int) -> int:
    if item is None or item.get(key) is None:
        return default
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ValidationError(_("Số bản giấy tờ không hợp lệ."), code="invalid_documents")
    return value


def _resolve_process(
    version: ProcedureVersion, plan: VersionPlan, agency: Agency
) -> list[tuple[PlanStep, Unit]]:
    """Each step of the version's internal process with its unit: the step's agency (or the
    receiving agency when it names none) and the active unit of that agency with the step's
    code. One query, whatever the number of steps (units are read fresh: one may have been
    closed since the version was published)."""
    steps = plan.steps
    if not steps:
        raise ValidationError(
            _("Thủ tục “%(code)s” chưa có quy trình nội bộ nên chưa thể tiếp nhận hồ sơ; "
              "đề nghị cán bộ kiểm soát TTHC cập nhật.") % {"code": version.procedure.code},
            code="process_missing",
        )
    wanted = {(step.agency_id or agency.pk, step.unit_code) for step in steps}
    # A rectangle (agencies × codes) rather than an OR of pairs: a simpler statement, and the
    # few extra units it may bring are dropped by the lookup below.
    units = {
        (unit.agency_id, unit.code): unit
        for unit in _active_units({a for a, _c in wanted}, {c for _a, c in wanted})
    }
    resolved, problems = [], []
    for step in steps:
        unit = units.get((step.agency_id or agency.pk, step.unit_code))
        if unit is None:
            problems.append(
                _("bước %(position)s “%(name)s”: không có đơn vị “%(unit)s” đang hoạt động") % {
                    "position": step.position, "name": step.name, "unit": step.unit_code,
                }
            )
        else:
            resolved.append((step, unit))
    if problems:
        raise ValidationError(
            _("Quy trình nội bộ của thủ tục chưa khớp với tổ chức của %(agency)s: %(problems)s.")
            % {"agency": agency.name, "problems": "; ".join(problems)},
            code="process_misconfigured",
        )
    return resolved


def _active_units(agency_ids: set[int], codes_: set[str]) -> list[Unit]:
    """The active units of those agencies with those codes, each with its agency."""
    if not fast_sql():
        return list(
            Unit.objects.filter(agency_id__in=agency_ids, code__in=codes_, is_active=True)
            .select_related("agency")
        )
    u_names, u_cols = select_columns(Unit, "u")
    a_names, a_cols = select_columns(Agency, "a")
    with connection.cursor() as cursor:
        execute_prepared(
            cursor, "motcua_reception_units",
            f"SELECT {u_cols}, {a_cols} FROM motcua_unit u "
            "JOIN motcua_agency a ON a.id = u.agency_id "
            "WHERE u.agency_id = ANY(%s::bigint[]) AND u.code = ANY(%s::varchar[]) AND u.is_active",
            [sorted(agency_ids), sorted(codes_)],
        )
        rows = cursor.fetchall()
    units = []
    for row in rows:
        unit, at = from_row(Unit, u_names, row, 0)
        unit.agency, _end = from_row(Agency, a_names, row, at)
        units.append(unit)
    return units


# ---------------------------------------------------------------------------------------------
# Writes (inside the reception transaction)
# ---------------------------------------------------------------------------------------------


def _applicant_fields(person: Applicant) -> dict:
    return {
        "applicant_name": person.name,
        "applicant_name_folded": fold(person.name)[:255],
        "applicant_id_type": person.id_type,
        "applicant_id_number": person.id_number,
        "applicant_phone": person.phone,
        "applicant_email": person.email,
        "applicant_address": person.address,
    }


def _new_steps(
    dossier: Dossier, process, *, actor, at: datetime
) -> tuple[list[DossierStep], DossierStep | None]:
    """The dossier's copy of the process (unsaved) and its reception step (a leading clerk
    step), which starts when the clock does, held by the receiving clerk. Also sets
    ``dossier.first_officer_unit``: the first processing step's unit when it is an officer
    step (those officers may take the dossier from the desk: its queue reads that column)."""
    steps = [
        DossierStep(
            dossier=dossier, process_step_id=step.id, position=step.position, name=step.name,
            agency=unit.agency, unit=unit, role=step.role, hours=step.hours,
        )
        for step, unit in process
    ]
    plan = Plan(steps=steps)
    first = plan.first_processing
    dossier.first_officer_unit = first.unit if first and first.role == Role.OFFICER else None
    reception = plan.reception
    if reception is not None:
        reception.started_at = at
        reception.due_at = calendar.add_working_hours(at, reception.hours)
        reception.handler = actor if getattr(actor, "pk", None) else None
    return steps, reception


def _insert_received(dossier: Dossier, process, *, actor, at: datetime,
                     step_ids: list[int] = ()) -> DossierStep | None:
    """Insert a dossier received at the desk with its steps, the reception step current (the
    desk's step, not an assignment: no current handler).

    With its id reserved (PostgreSQL, :func:`dossiers.codes.next_code_and_id`) the steps go
    first and the dossier is written once, current step included: the foreign keys between
    them are checked at commit. Otherwise the dossier, then the steps, then its current step.
    """
    if dossier.pk is not None:
        steps, reception = _new_steps(dossier, process, actor=actor, at=at)
        if len(step_ids) == len(steps):
            for step, step_id in zip(steps, step_ids, strict=True):
                step.id = step_id
        insert_rows(steps)
        set_current(dossier, reception)
        insert_rows([dossier])
        return reception
    dossier.save(force_insert=True)
    steps, reception = _new_steps(dossier, process, actor=actor, at=at)
    DossierStep.objects.bulk_create(steps)
    set_current(dossier, reception)
    Dossier.objects.filter(pk=dossier.pk).update(
        current_step=reception, current_unit=reception.unit if reception else None,
        current_role=reception.role if reception else "", current_handler=None,
        first_officer_unit=dossier.first_officer_unit,
    )
    return reception


def _save_checklist(dossier: Dossier, checklist) -> None:
    rows = []
    for row, _mandatory in checklist:
        row.dossier = dossier
        rows.append(row)
    if fast_sql():
        insert_rows(rows, want_ids=False)  # nothing reads their ids back: no RETURNING
    else:
        DossierDocument.objects.bulk_create(rows)


def _store_uploads(
    dossier: Dossier, uploads: list[tuple[object, CheckedUpload]], *, kind: str, actor,
    into: list[Attachment],
) -> None:
    """Store each file, appending to ``into`` as it goes (so a failure halfway can remove the
    files already written)."""
    from dossiers.services.attachments import store_attachment

    for file, checked in uploads:
        into.append(store_attachment(dossier, file, checked, kind=kind, actor=actor))


def _discard_files(stored: list[Attachment]) -> None:
    from dossiers.services.attachments import discard_files

    discard_files(stored)


def _reception_data(dossier: Dossier, checklist, stored, *, desk: bool) -> dict:
    return {
        "code": dossier.code,
        "provisional_code": dossier.provisional_code or "",
        "channel": dossier.channel,
        "desk": desk,
        "due_at": dossier.due_at.isoformat() if dossier.due_at else None,
        "documents_received": sum(1 for row, _m in checklist if row.received),
        "attachments": len(stored),
    }

