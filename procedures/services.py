"""Writes to the procedure catalogue. Every way in (staff pages, xlsx import, admin, demo seed)
calls these functions with a `ProcedureData`; none of them writes the models directly.

Versioning: a dossier keeps the version it was received under. So `procedure_update` edits the
current version in place only while nothing refers to it; once a dossier (or anything else) uses
it, the change becomes a new version, number + 1, effective now, and the new one becomes current.
"""

from __future__ import annotations

import copy
import dataclasses
import unicodedata
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from audit.history import history_actor
from motcua.errors import PermissionDenied, ValidationError
from motcua.models import Agency
from motcua.permissions import is_catalogue_admin
from procedures.models import (
    FeeLine,
    Field,
    Procedure,
    ProcedureVersion,
    ProcessStep,
    RequiredDocument,
    TimeLimit,
)
from procedures.schema import DocumentData, FeeData, ProcedureData, StepData, TimeLimitData
from procedures.validation import procedure_validate

__all__ = [
    "procedure_create",
    "procedure_set_active",
    "procedure_to_data",
    "procedure_update",
    "procedure_validate",
    "procedure_version_in_use",
]

# Whether the shared data shape carries the stored template file of a document (a storage
# path; "" = none). Without it, an edit keeps each document's file by the document's name.


def _check_actor(actor) -> None:
    """Only a catalogue admin (or a superuser) edits the catalogue. ``actor=None`` is the
    system itself (the demo seed, a management command), which has no user."""
    if actor is None:
        return
    if not is_catalogue_admin(actor):
        raise PermissionDenied(_("Chỉ cán bộ kiểm soát thủ tục hành chính được sửa danh mục."))


def _user_or_none(actor):
    return actor if getattr(actor, "pk", None) else None


def procedure_version_in_use(version: ProcedureVersion | None) -> bool:
    """Whether anything outside the catalogue (a dossier...) refers to ``version`` or its
    parts: then it must not change any more, and an edit makes a new version."""
    return version is not None and version.is_in_use()


def procedure_create(*, data: ProcedureData, actor) -> Procedure:
    """Add a procedure with its first version (number 1, effective from ``data.effective_from``
    or now). The rules of `procedure_validate` apply, and the code must not exist yet."""
    _check_actor(actor)
    data = _normalised(data)
    procedure_validate(data)
    if Procedure.objects.filter(code=data.code).exists():
        raise _duplicate_code(data.code)
    try:
        with transaction.atomic(), history_actor(actor):
            procedure = Procedure.objects.create(code=data.code)
            version = ProcedureVersion(
                procedure=procedure, number=1,
                effective_from=data.effective_from or timezone.now(),
                created_by=_user_or_none(actor),
            )
            _write_version(version, data, previous=None)
            procedure.current_version = version
            procedure.save(update_fields=["current_version"])
    except IntegrityError as exc:
        # Two admins adding the same code at once: the unique index decides.
        if Procedure.objects.filter(code=data.code).exists():
            raise _duplicate_code(data.code) from exc
        raise
    return procedure


def _duplicate_code(code: str) -> ValidationError:
    message = _("Mã thủ tục “%(code)s” đã có trong danh mục.") % {"code": code}
    return ValidationError(message, errors={"code": [message]})


def procedure_update(*, procedure: Procedure, data: ProcedureData, actor) -> ProcedureVersion:
    """Change a procedure; returns its current version afterwards.

    The rules of `procedure_validate` apply and the code cannot change (it is the identity that
    dossiers and the national database know). Nothing changed: nothing is written (so a re-run
    seed or a re-imported export adds no version). The current version is in use
    (`procedure_version_in_use`): a new version number + 1, effective now, becomes current and
    the old one stays as it is. Otherwise the current version is edited in place.
    """
    _check_actor(actor)
    data = _normalised(data)
    if data.code != procedure.code:
        message = _(
            "Không thể đổi mã thủ tục (%(old)s → %(new)s): mã là định danh của thủ tục. "
            "Hãy thêm thủ tục mới và ngừng áp dụng thủ tục cũ."
        ) % {"old": procedure.code, "new": data.code}
        raise ValidationError(message, errors={"code": [message]})
    procedure_validate(data)
    with transaction.atomic(), history_actor(actor):
        locked = Procedure.objects.select_for_update().get(pk=procedure.pk)
        current = (
            ProcedureVersion.objects.select_related("procedure", "field", "agency")
            .filter(pk=locked.current_version_id).first()
        )
        if current is not None and _same_content(procedure_to_data(current), data):
            return current
        if current is None or procedure_version_in_use(current):
            last = locked.versions.order_by("-number").values_list("number", flat=True).first()
            version = ProcedureVersion(
                procedure=locked, number=(last or 0) + 1, effective_from=timezone.now(),
                created_by=_user_or_none(actor),
            )
            _write_version(version, data, previous=current)
            locked.current_version = version
            locked.save(update_fields=["current_version"])
            procedure.current_version = version
            return version
        if data.effective_from:
            current.effective_from = data.effective_from
        _write_version(current, data, previous=current)
        return current


def procedure_set_active(*, procedure: Procedure, active: bool, actor) -> Procedure:
    """Stop or resume applying a procedure (ngừng / tiếp tục áp dụng). An inactive procedure
    leaves the public catalogue and receives no new dossiers; its versions stay for the dossiers
    that use them."""
    _check_actor(actor)
    with transaction.atomic(), history_actor(actor):
        locked = Procedure.objects.select_for_update().get(pk=procedure.pk)
        if locked.is_active != bool(active):
            locked.is_active = bool(active)
            locked.save(update_fields=["is_active"])
    procedure.is_active = locked.is_active
    return procedure


def version_scalars(version: ProcedureVersion) -> dict:
    """The single-valued fields of a `ProcedureData`, read from a version (saved or not)."""
    return dict(
        code=version.procedure.code,
        name=version.name,
        field_code=version.field.code,
        field_name=version.field.name,
        level=version.level,
        time_limit_amount=version.time_limit_amount,
        time_limit_unit=version.time_limit_unit,
        agency_code=version.agency.code if version.agency_id else "",
        agency_text=version.agency_text,
        subjects=version.subjects,
        accepts_in_person=version.accepts_in_person,
        accepts_online=version.accepts_online,
        accepts_post=version.accepts_post,
        online_level=version.online_level,
        is_inter_agency=version.is_inter_agency,
        time_limit_text=version.time_limit_text,
        supplement_clock=version.supplement_clock,
        procedure_steps_text=version.procedure_steps_text,
        requirements=version.requirements,
        result=version.result,
        legal_basis=version.legal_basis,
        source=version.source,
        effective_from=version.effective_from,
    )


def procedure_to_data(version: ProcedureVersion) -> ProcedureData:
    """The `ProcedureData` of a stored version: what the edit form starts from and what the
    export writes. `procedure_update` with it unchanged writes nothing."""
    steps = [
        StepData(name=s.name, unit_code=s.unit_code, role=s.role, hours=s.hours,
                 agency_code=s.agency.code if s.agency_id else "")
        for s in _rows(version, "steps", select=("agency",))
    ]
    documents = []
    for d in _rows(version, "documents"):
        documents.append(DocumentData(
            name=d.name, originals=d.originals, copies=d.copies, is_mandatory=d.is_mandatory,
            template_name=d.template_name, template=d.template.name or "",
        ))
    return ProcedureData(
        **version_scalars(version),
        fees=[FeeData(name=f.name, amount_vnd=f.amount_vnd, description=f.description)
              for f in _rows(version, "fees")],
        documents=documents,
        steps=steps,
        time_limits=[TimeLimitData(channel=t.channel, amount=t.amount, unit=t.unit)
                     for t in _rows(version, "time_limits")],
    )


def _rows(version: ProcedureVersion, name: str, select: tuple[str, ...] = ()):
    """A version's parts, from the prefetch cache when the caller prefetched them."""
    cache = getattr(version, "_prefetched_objects_cache", {})
    if name in cache:
        return list(cache[name])
    qs = getattr(version, name).all()
    return list(qs.select_related(*select) if select else qs)


# ---------------------------------------------------------------------------------------------
# Internals
# ---------------------------------------------------------------------------------------------

_STRIPPED = (
    "code", "name", "field_code", "field_name", "agency_code", "agency_text", "subjects",
    "time_limit_text", "procedure_steps_text", "requirements", "result", "legal_basis", "source",
)


def _strip(value):
    """Composed Unicode (NFC: one code point for "ấ"), no surrounding spaces."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value).strip()
    return "" if value is None else value


def _normalised(data: ProcedureData) -> ProcedureData:
    """A copy in composed Unicode without surrounding spaces, the legal basis one document a
    line, so that the same content typed twice compares (and searches) equal."""
    data = copy.deepcopy(data)
    for name in _STRIPPED:
        setattr(data, name, _strip(getattr(data, name)))
    data.legal_basis = "\n".join(
        line.strip() for line in data.legal_basis.splitlines() if line.strip()
    )
    for item in [*data.fees, *data.documents, *data.steps]:
        for attr in ("name", "description", "template_name", "unit_code", "agency_code", "role"):
            if hasattr(item, attr):
                setattr(item, attr, _strip(getattr(item, attr)))
    return data


def _comparable(data: ProcedureData) -> dict:
    out = dataclasses.asdict(data)
    # Not part of a version's content: when it takes effect, and the field's name (the field is
    # shared by every procedure of the field).
    out.pop("effective_from")
    out.pop("field_name")
    return out


def _same_content(stored: ProcedureData, new: ProcedureData) -> bool:
    """Equal content; numbers compare by value (Decimal("8.00") == 8)."""
    return _comparable(stored) == _comparable(new)


def _decimal(value) -> Decimal:
    return Decimal(str(value).strip().replace(",", "."))


def _field_for(data: ProcedureData) -> Field:
    """The field by code; a new code with its name adds the field."""
    field = Field.objects.filter(code=data.field_code).first()
    if field is None:
        field, _created = Field.objects.get_or_create(
            code=data.field_code, defaults={"name": data.field_name}
        )
    return field


def _bulk_create(model, rows: list) -> None:
    if rows:
        bulk_create_with_history(rows, model)


def _write_version(version: ProcedureVersion, data: ProcedureData, *,
                   previous: ProcedureVersion | None) -> None:
    """Store ``data`` as ``version`` (new or edited in place) with all its parts."""
    agencies = {
        a.code: a for a in Agency.objects.filter(
            code__in={data.agency_code, *(s.agency_code for s in data.steps)} - {""}
        )
    }
    version.name = data.name
    version.field = _field_for(data)
    version.level = data.level
    version.agency = agencies.get(data.agency_code)
    for name in (
        "agency_text", "subjects", "accepts_in_person", "accepts_online", "accepts_post",
        "online_level", "is_inter_agency", "time_limit_unit", "time_limit_text",
        "supplement_clock", "procedure_steps_text", "requirements", "result", "legal_basis",
        "source",
    ):
        setattr(version, name, getattr(data, name))
    version.time_limit_amount = _decimal(data.time_limit_amount)
    version.search_text = version.build_search_text()
    version.save()

    if not version._state.adding:
        for model in (TimeLimit, FeeLine, RequiredDocument, ProcessStep):
            model.objects.filter(version=version).delete()
    # Bulk inserts bypass save(): each leaves its history rows too (the audit app's change
    # history), naming the actor of ``history_actor`` or the request's user. The deletes above
    # go through the ORM's signals, which record them one by one.
    _bulk_create(TimeLimit, [
        TimeLimit(version=version, channel=t.channel, amount=_decimal(t.amount), unit=t.unit)
        for t in data.time_limits
    ])
    _bulk_create(FeeLine, [
        FeeLine(version=version, position=i, name=f.name,
                amount_vnd=None if f.amount_vnd is None else int(_decimal(f.amount_vnd)),
                description=f.description)
        for i, f in enumerate(data.fees, start=1)
    ])
    _bulk_create(RequiredDocument, [
        RequiredDocument(
            version=version, position=i, name=d.name, originals=int(d.originals),
            copies=int(d.copies), is_mandatory=bool(d.is_mandatory), template_name=d.template_name,
            template=d.template or "",
        )
        for i, d in enumerate(data.documents, start=1)
    ])
    _bulk_create(ProcessStep, [
        ProcessStep(version=version, position=i, name=s.name, unit_code=s.unit_code,
                    role=s.role, hours=_decimal(s.hours), agency=agencies.get(s.agency_code))
        for i, s in enumerate(data.steps, start=1)
    ])
    # Drop what the instance may have cached of its old parts.
    if hasattr(version, "_prefetched_objects_cache"):
        version._prefetched_objects_cache.clear()
