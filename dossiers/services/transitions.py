"""Every change of a dossier's state goes through :func:`dossier_transition` (STYLE.md "One road
for every write"); assignment through :func:`dossier_assign`.

Inside one transaction: lock the row → compare the version the caller saw → permission (403) →
the state machine (400, naming the state) → the rules of the transition (400) → the django-fsm
method (no side effects) → steps and deadlines through ``motcua.calendar`` → save with version
+1 → one event row → on commit, ``dossiers.publish_event`` with the event id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import django_fsm
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dossiers import permissions
from dossiers.models import (
    Dossier,
    DossierEvent,
    DossierStep,
    EventKind,
    Outcome,
    State,
    Transition,
)
from dossiers.services import reception
from dossiers.services._common import (
    Plan,
    append_event,
    begin_step,
    describe_step,
    finish_step,
    set_current,
    time_limit,
)
from dossiers.validators import clean_comment, clean_text
from motcua import calendar
from motcua.errors import (
    ConcurrentChange,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationError,
)
from motcua.models import Role
from motcua.text import person_name
from procedures.models import SupplementClock

__all__ = ["TRANSITION_PAYLOAD", "dossier_assign", "dossier_available_transitions", "dossier_transition"]

LIST_MAX_ITEMS = 50
ITEM_MAX = 1000


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------


def _text_list(value, label) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or len(value) > LIST_MAX_ITEMS:
        raise ValidationError(_("%(label)s phải là danh sách (tối đa %(n)d mục).") % {"label": label, "n": LIST_MAX_ITEMS})
    items = [clean_text(item, label=label, max_length=ITEM_MAX) for item in value]
    return [item for item in items if item]


def _text(value, label, max_length=4000) -> str:
    return clean_text(value, label=label, max_length=max_length, multiline=True)


def _documents(value, label):
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise ValidationError(_("Danh mục giấy tờ không hợp lệ."), code="invalid_documents")
    return list(value)


#: The extra arguments each transition takes, and how each is cleaned.
TRANSITION_PAYLOAD: dict[str, dict[str, Callable]] = {
    Transition.RECEIVE: {"documents": _documents},
    Transition.REFUSE: {"reasons": _text_list},
    Transition.START: {},
    Transition.FORWARD: {},
    Transition.REQUEST_SUPPLEMENT: {"reasons": _text_list, "missing_documents": _text_list},
    Transition.SUPPLEMENT: {"documents": _text_list},
    Transition.SUBMIT_FOR_APPROVAL: {"result_text": _text},
    Transition.APPROVE: {"result_text": _text},
    Transition.DENY: {"reasons": _text_list, "result_text": _text},
    Transition.SEND_BACK: {},
    Transition.RETURN_RESULT: {},
    Transition.WITHDRAW: {"reason": _text},
    Transition.STOP: {"legal_basis": _text},
}
_PAYLOAD_LABELS = {
    "reasons": "Lý do", "missing_documents": "Giấy tờ cần bổ sung", "documents": "Giấy tờ",
    "result_text": "Nội dung kết quả", "reason": "Lý do rút hồ sơ", "legal_basis": "Căn cứ pháp lý",
}


def _clean_payload(name: str, payload: dict) -> dict:
    allowed = TRANSITION_PAYLOAD[name]
    unknown = sorted(set(payload) - set(allowed))
    if unknown:
        raise ValidationError(
            _("Thao tác “%(label)s” không nhận tham số: %(keys)s.")
            % {"label": Transition(name).label, "keys": ", ".join(unknown)},
            code="invalid_payload",
        )
    return {
        key: clean(payload.get(key), _PAYLOAD_LABELS.get(key, key)) for key, clean in allowed.items()
    }


# ---------------------------------------------------------------------------------------------
# The work of each transition
# ---------------------------------------------------------------------------------------------


@dataclass
class Context:
    dossier: Dossier
    plan: Plan
    actor: object
    now: datetime
    comment: str
    payload: dict
    prepared: object = None
    # filled by the handler, written to the event
    step: DossierStep | None = None
    on_time: bool | None = None
    data: dict = field(default_factory=dict)
    fsm_kwargs: dict = field(default_factory=dict)

    @property
    def current(self) -> DossierStep | None:
        return self.plan.at(self.dossier.current_step_id)


def _not_allowed(message: str) -> TransitionNotAllowed:
    return TransitionNotAllowed(message)


def _require(condition, message: str, field_name: str = "comment") -> None:
    if not condition:
        raise ValidationError(message, code="required", errors={field_name: [message]})


# Each transition: check(ctx) raises before anything is written; apply(ctx) does the work after
# the fsm method changed the state.


def _check_receive(ctx: Context) -> None:
    ctx.prepared = reception.prepare_receipt(ctx.dossier, ctx.payload["documents"])


def _apply_receive(ctx: Context) -> None:
    ctx.step, ctx.data = reception.receive_submitted(
        ctx.dossier, ctx.prepared, actor=ctx.actor, now=ctx.now
    )


def _reasons(ctx: Context, key: str = "reasons") -> list[str]:
    reasons = list(ctx.payload.get(key) or [])
    if ctx.comment and ctx.comment not in reasons:
        reasons.append(ctx.comment)
    return reasons


def _check_refuse(ctx: Context) -> None:
    _require(_reasons(ctx), _("Vui lòng ghi rõ lý do từ chối tiếp nhận."), "reasons")


def _apply_refuse(ctx: Context) -> None:
    ctx.data = {"reasons": _reasons(ctx)}
    _close(ctx)


def _check_start(ctx: Context) -> None:
    if ctx.plan.first_processing is None or ctx.plan.first_processing.role == Role.LEADER:
        raise _not_allowed(_("Quy trình nội bộ của thủ tục không có bước thụ lý sau bước tiếp nhận."))


def _apply_start(ctx: Context) -> None:
    reception_step = ctx.current
    if reception_step is not None and reception_step.finished_at is None:
        ctx.on_time = finish_step(reception_step, now=ctx.now, actor=ctx.actor)
        ctx.step = reception_step
    target = ctx.plan.first_processing
    # An officer who takes the dossier from the desk becomes its handler.
    staff = permissions.staff_of(ctx.actor)
    handler = ctx.actor if staff.holds(target.role, target.unit_id) and target.role == Role.OFFICER else None
    new = begin_step(ctx.dossier, target, now=ctx.now, handler=handler)
    ctx.data = {"from": describe_step(reception_step), "to": describe_step(new)}
    if ctx.step is None:
        ctx.step = new


def _approved_before(ctx: Context) -> bool:
    """A leader step before the current one has signed (its work is done)."""
    current = ctx.current
    return current is not None and any(
        s.role == Role.LEADER and s.position < current.position and s.finished_at
        for s in ctx.plan.processing
    )


def _check_forward(ctx: Context) -> None:
    following = ctx.plan.next_processing(ctx.current)
    if following is None and _approved_before(ctx):
        # The follow-up after the signature (e.g. liên thông with the police and social
        # insurance) is done: the result goes to the desk.
        ctx.fsm_kwargs = {"to": State.RESULT_READY}
        return
    if following is None:
        raise _not_allowed(
            _("Đây là bước thụ lý cuối cùng của quy trình: dùng thao tác “%(action)s”.")
            % {"action": Transition.SUBMIT_FOR_APPROVAL.label}
        )
    if following.role == Role.LEADER:
        raise _not_allowed(
            _("Bước tiếp theo “%(name)s” là bước phê duyệt: dùng thao tác “%(action)s”.")
            % {"name": following.name, "action": Transition.SUBMIT_FOR_APPROVAL.label}
        )


def _hand_over(ctx: Context, target: DossierStep | None, *, handler=None) -> DossierStep | None:
    """Finish the current step and begin ``target``: one hand-over (Mẫu 06)."""
    current = ctx.current
    if current is not None:
        ctx.on_time = finish_step(current, now=ctx.now, actor=ctx.actor)
    ctx.step = current
    new = begin_step(ctx.dossier, target, now=ctx.now, handler=handler) if target else None
    if target is None:
        set_current(ctx.dossier, None)
    ctx.data.update({"from": describe_step(current), "to": describe_step(new)})
    if current is not None and new is not None and current.agency_id != new.agency_id:
        ctx.data["inter_agency"] = True
    return new


def _apply_forward(ctx: Context) -> None:
    if ctx.fsm_kwargs.get("to") == State.RESULT_READY:
        _result_ready(ctx, ctx.dossier.outcome or Outcome.GRANTED)
        return
    _hand_over(ctx, ctx.plan.next_processing(ctx.current))


def _check_request_supplement(ctx: Context) -> None:
    _require(
        ctx.payload["missing_documents"] or _reasons(ctx),
        _("Vui lòng ghi rõ giấy tờ cần bổ sung hoặc lý do."), "missing_documents",
    )


def _apply_request_supplement(ctx: Context) -> None:
    current = ctx.current
    dossier = ctx.dossier
    earlier = DossierEvent.objects.filter(
        dossier=dossier, transition=Transition.REQUEST_SUPPLEMENT,
        step__agency_id=current.agency_id if current else None,
    ).count()
    dossier.paused_at = ctx.now
    dossier.supplement_requests += 1
    ctx.step = current
    ctx.data = {
        "missing_documents": ctx.payload["missing_documents"],
        "reasons": _reasons(ctx),
        "agency": current.agency.code if current else dossier.agency.code,
        "request_number": earlier + 1,
        # Decree 118/2025: one supplement request per agency; a second one counts the dossier
        # as late in the national indicators (it is still allowed).
        "counts_late": earlier >= 1,
        "due_at": dossier.due_at.isoformat() if dossier.due_at else None,
    }


def _apply_supplement(ctx: Context) -> None:
    """The citizen brought the documents: the clock runs again. Paused working time is added
    to the appointment and the current step's deadline; with the version's ``restart`` policy
    both are counted afresh from now instead."""
    dossier = ctx.dossier
    version = dossier.procedure_version
    paused = (
        max(calendar.working_hours_between(dossier.paused_at, ctx.now), Decimal(0))
        if dossier.paused_at else Decimal(0)
    )
    before = dossier.due_at
    current = ctx.current
    mode = version.supplement_clock
    if mode == SupplementClock.RESTART:
        amount, unit = time_limit(version, dossier.channel)
        dossier.due_at = calendar.deadline(ctx.now, amount, unit)
        if current is not None:
            current.due_at = calendar.add_working_hours(ctx.now, current.hours)
    elif paused > 0:
        dossier.due_at = calendar.add_working_hours(dossier.due_at, paused)
        if current is not None and current.due_at is not None:
            current.due_at = calendar.add_working_hours(current.due_at, paused)
    if current is not None:
        current.save(update_fields=["due_at"])
    dossier.paused_hours = (dossier.paused_hours or Decimal(0)) + paused
    dossier.paused_at = None
    dossier.is_overdue = dossier.due_at is not None and ctx.now >= dossier.due_at
    ctx.step = current
    ctx.data = {
        "mode": mode,
        "paused_hours": str(paused),
        "due_at_before": before.isoformat() if before else None,
        "due_at": dossier.due_at.isoformat() if dossier.due_at else None,
        "documents": ctx.payload["documents"],
    }


def _check_submit_for_approval(ctx: Context) -> None:
    following = ctx.plan.next_processing(ctx.current)
    if following is None:
        raise _not_allowed(_("Quy trình nội bộ của thủ tục không có bước phê duyệt."))
    if following.role != Role.LEADER:
        raise _not_allowed(
            _("Bước tiếp theo “%(name)s” chưa phải bước phê duyệt: dùng thao tác “%(action)s”.")
            % {"name": following.name, "action": Transition.FORWARD.label}
        )


def _apply_submit_for_approval(ctx: Context) -> None:
    if ctx.payload["result_text"]:
        ctx.dossier.result_text = ctx.payload["result_text"]
    _hand_over(ctx, ctx.plan.next_processing(ctx.current))


def _approval_target(ctx: Context) -> tuple[str, DossierStep | None]:
    """Where an approval leads: to the next leader (multi-level approval), to the next
    processing step (inter-agency: the next agency works on), else to the desk's result."""
    following = ctx.plan.next_processing(ctx.current)
    if following is None:
        return State.RESULT_READY, ctx.plan.return_step
    if following.role == Role.LEADER:
        return State.AWAITING_APPROVAL, following
    return State.IN_PROGRESS, following


def _check_approve(ctx: Context) -> None:
    target, _step = _approval_target(ctx)
    ctx.fsm_kwargs = {"to": target}


def _apply_approve(ctx: Context) -> None:
    target, step = _approval_target(ctx)
    if ctx.payload["result_text"]:
        ctx.dossier.result_text = ctx.payload["result_text"]
    if target == State.RESULT_READY:
        _result_ready(ctx, Outcome.GRANTED)
    else:
        _hand_over(ctx, step)
        ctx.data["final"] = False


def _check_deny(ctx: Context) -> None:
    _require(_reasons(ctx), _("Vui lòng ghi rõ lý do từ chối giải quyết."), "reasons")


def _apply_deny(ctx: Context) -> None:
    if ctx.payload["result_text"]:
        ctx.dossier.result_text = ctx.payload["result_text"]
    ctx.data["reasons"] = _reasons(ctx)
    _result_ready(ctx, Outcome.DENIED)


def _result_ready(ctx: Context, outcome: str) -> None:
    dossier = ctx.dossier
    dossier.outcome = outcome
    dossier.result_ready_at = ctx.now
    _hand_over(ctx, ctx.plan.return_step)
    ctx.data.update({"final": True, "outcome": outcome, "timeliness": dossier.timeliness})


def _check_send_back(ctx: Context) -> None:
    _require(ctx.comment, _("Vui lòng ghi ý kiến khi trả lại hồ sơ."))
    if ctx.current is None or ctx.plan.previous_worker(ctx.current) is None:
        raise _not_allowed(_("Không có bước thụ lý trước bước phê duyệt để trả lại."))


def _apply_send_back(ctx: Context) -> None:
    previous = ctx.plan.previous_worker(ctx.current)
    # Back to the officer who did that step, for a new attempt with its own allotment.
    _hand_over(ctx, previous, handler=previous.handler)


def _apply_return_result(ctx: Context) -> None:
    dossier = ctx.dossier
    current = ctx.current
    if current is not None and current.finished_at is None:
        ctx.on_time = finish_step(current, now=ctx.now, actor=ctx.actor)
    ctx.step = current
    dossier.returned_at = ctx.now
    ctx.data = {"outcome": dossier.outcome, "timeliness": dossier.timeliness}
    _close(ctx)


def _check_withdraw(ctx: Context) -> None:
    _require(ctx.payload["reason"] or ctx.comment, _("Vui lòng ghi lý do rút hồ sơ."), "reason")


def _apply_withdraw(ctx: Context) -> None:
    ctx.step = ctx.current
    ctx.data = {"reason": ctx.payload["reason"] or ctx.comment}
    _close(ctx)


def _check_stop(ctx: Context) -> None:
    _require(
        ctx.payload["legal_basis"] or ctx.comment,
        _("Vui lòng ghi căn cứ pháp lý của việc dừng xử lý."), "legal_basis",
    )


def _apply_stop(ctx: Context) -> None:
    ctx.step = ctx.current
    ctx.data = {"legal_basis": ctx.payload["legal_basis"] or ctx.comment}
    _close(ctx)


def _close(ctx: Context) -> None:
    dossier = ctx.dossier
    dossier.closed_at = ctx.now
    dossier.is_overdue = False
    dossier.is_due_soon = False
    set_current(dossier, None)


def _nothing(ctx: Context) -> None:
    return None


HANDLERS: dict[str, tuple[Callable, Callable]] = {
    Transition.RECEIVE: (_check_receive, _apply_receive),
    Transition.REFUSE: (_check_refuse, _apply_refuse),
    Transition.START: (_check_start, _apply_start),
    Transition.FORWARD: (_check_forward, _apply_forward),
    Transition.REQUEST_SUPPLEMENT: (_check_request_supplement, _apply_request_supplement),
    Transition.SUPPLEMENT: (_nothing, _apply_supplement),
    Transition.SUBMIT_FOR_APPROVAL: (_check_submit_for_approval, _apply_submit_for_approval),
    Transition.APPROVE: (_check_approve, _apply_approve),
    Transition.DENY: (_check_deny, _apply_deny),
    Transition.SEND_BACK: (_check_send_back, _apply_send_back),
    Transition.RETURN_RESULT: (_nothing, _apply_return_result),
    Transition.WITHDRAW: (_check_withdraw, _apply_withdraw),
    Transition.STOP: (_check_stop, _apply_stop),
}


# ---------------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------------


def _transition_name(transition) -> str:
    name = str(getattr(transition, "value", transition) or "")
    if name not in Transition.values:
        message = _("Thao tác không hợp lệ: “%(name)s”.") % {"name": name}
        raise ValidationError(message, code="unknown_transition", errors={"transition": [message]})
    return name


def state_refusal(dossier: Dossier, name: str) -> TransitionNotAllowed:
    return TransitionNotAllowed(
        _("Không thể “%(action)s”: hồ sơ %(code)s đang ở trạng thái “%(state)s”.") % {
            "action": Transition(name).label, "code": dossier.code,
            "state": dossier.get_state_display(),
        }
    )


def _parse_version(expected_version) -> int | None:
    if expected_version in (None, ""):
        return None
    try:
        return int(expected_version)
    except (TypeError, ValueError):
        raise ValidationError(
            _("Phiên bản hồ sơ không hợp lệ."), code="invalid",
            errors={"expected_version": [_("Phải là số nguyên.")]},
        ) from None


def dossier_transition(
    *,
    dossier: Dossier,
    transition: str,
    actor,
    comment: str = "",
    expected_version: int | None = None,
    **payload,
) -> Dossier:
    """Apply one transition of the dossier state machine (names in CONTRACT.md) and log it.

    Raises ``ConcurrentChange`` (409) when ``expected_version`` is not the dossier's version
    (someone acted first) or when a concurrent write slipped through; ``PermissionDenied``
    (403) when the actor may not do this to this dossier; ``TransitionNotAllowed`` (400) when
    the state or the internal process does not allow it; ``ValidationError`` (400) for a
    missing reason or bad input. On any error nothing is written. Returns the dossier as saved.
    """
    name = _transition_name(transition)
    comment = clean_comment(comment)
    payload = _clean_payload(name, payload)
    expected = _parse_version(expected_version)
    check, apply = HANDLERS[name]
    try:
        with transaction.atomic():
            locked = (
                Dossier.objects.select_for_update(of=("self",))
                .select_related("procedure_version__procedure", "agency")
                .get(pk=dossier.pk)
            )
            if expected is not None and expected != locked.version:
                raise ConcurrentChange()
            plan = Plan.of(locked)
            if not permissions.can_transition(
                actor, locked, name, first_processing_step=plan.first_processing
            ):
                raise PermissionDenied()
            method = getattr(locked, name)
            if not django_fsm.can_proceed(method):
                raise state_refusal(locked, name)
            now = timezone.now()
            ctx = Context(
                dossier=locked, plan=plan, actor=actor, now=now, comment=comment,
                payload=payload,
            )
            check(ctx)
            from_state = locked.state
            method(**ctx.fsm_kwargs)
            apply(ctx)
            locked.version += 1
            locked.save()
            append_event(
                dossier=locked, at=now, actor=actor, transition=name, from_state=from_state,
                to_state=locked.state, step=ctx.step, comment=comment, on_time=ctx.on_time,
                data=ctx.data,
            )
    except django_fsm.ConcurrentTransition:
        raise ConcurrentChange() from None
    return locked


def dossier_assign(*, dossier: Dossier, officer, actor, expected_version: int | None = None) -> Dossier:
    """A leader assigns the dossier's current officer step to one officer of that step's unit
    (only that officer may then act on it). Logged; the version goes up by one."""
    expected = _parse_version(expected_version)
    with transaction.atomic():
        locked = (
            Dossier.objects.select_for_update(of=("self",))
            .select_related("current_step__unit", "current_step__agency")
            .get(pk=dossier.pk)
        )
        if expected is not None and expected != locked.version:
            raise ConcurrentChange()
        if not permissions.can_assign(actor, locked):
            raise PermissionDenied(_("Chỉ lãnh đạo cơ quan đang xử lý hồ sơ được phân công."))
        step = locked.current_step
        if (
            locked.state not in (State.IN_PROGRESS, State.SUPPLEMENT_REQUESTED)
            or step is None or step.role != Role.OFFICER
        ):
            raise TransitionNotAllowed(
                _("Chỉ phân công được khi hồ sơ đang ở bước thụ lý (trạng thái hiện tại: “%(state)s”).")
                % {"state": locked.get_state_display()}
            )
        permissions.forget(officer)
        if not permissions.staff_of(officer).holds(Role.OFFICER, step.unit_id):
            message = _("%(name)s không phải chuyên viên của %(unit)s.") % {
                "name": person_name(officer), "unit": step.unit.name,
            }
            raise ValidationError(message, code="invalid_officer", errors={"officer": [message]})
        previous = locked.current_handler_id
        locked.current_handler = officer
        step.handler = officer
        step.save(update_fields=["handler"])
        locked.version += 1
        locked.save()
        append_event(
            dossier=locked, at=timezone.now(), actor=actor, transition=EventKind.ASSIGN,
            from_state=locked.state, to_state=locked.state, step=step,
            data={"officer": officer.pk, "officer_name": person_name(officer),
                  "previous": previous},
        )
    return locked


def dossier_available_transitions(*, dossier: Dossier, user) -> list[str]:
    """The transitions ``user`` may apply now (for the screens' buttons). Reads only."""
    plan = Plan.of(dossier)
    names = []
    for name in Transition.values:
        method = getattr(dossier, name)
        if not django_fsm.can_proceed(method):
            continue
        if not permissions.can_transition(user, dossier, name, first_processing_step=plan.first_processing):
            continue
        if name in (Transition.FORWARD, Transition.SUBMIT_FOR_APPROVAL, Transition.START):
            ctx = Context(dossier=dossier, plan=plan, actor=user, now=timezone.now(), comment="", payload={})
            try:
                HANDLERS[name][0](ctx)
            except TransitionNotAllowed:
                continue
        names.append(name)
    return names
