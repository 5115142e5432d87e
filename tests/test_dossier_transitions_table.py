"""Every transition, allowed and refused, in every state, for every role (table-driven).

The rules, written out independently of the code:

- who (403 otherwise): the desk (clerk of the agency's reception unit, a service center's
  clerk) receives, refuses, records a supplement, returns the result, withdraws, and hands a
  received dossier over (start); an officer of the step's unit starts (takes), forwards,
  asks for a supplement, submits for approval; a leader of the step's unit approves, denies,
  sends back; a leader of the agency stops. Staff of another agency, a catalogue admin: nothing.
  Officers and leaders are tied to the dossier's internal process, which a dossier only has
  once received: before that (submitted, refused) they are strangers to it (403).
- when (400 ``transition_not_allowed`` otherwise): the source states of DOMAIN.md;
- and the internal process: ``forward`` only to another working step, ``submit_for_approval``
  only when the next step is the leader's.

One dossier per state is built through the services; each attempt runs in a savepoint that is
rolled back, so the table stays fast.
"""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import pytest
from django.db import transaction

from dossiers.models import DossierEvent
from motcua.errors import PermissionDenied, TransitionNotAllowed
from tests.dossier_factories import PATHS, act, dossier_in, frozen, org, version  # noqa: F401

STATES = list(PATHS)
ROLES = [
    "clerk", "center_clerk", "officer", "officer2", "leader", "superuser",
    "clerk_b", "officer_b", "leader_b", "admin",
]
DESK = {"clerk", "center_clerk", "superuser"}
OFFICERS = {"officer", "officer2", "superuser"}
LEADERS = {"leader", "superuser"}

WHO = {
    "receive": DESK,
    "refuse": DESK,
    "start": DESK | OFFICERS,
    "forward": OFFICERS,
    "request_supplement": OFFICERS,
    "supplement": DESK,
    "submit_for_approval": OFFICERS,
    "approve": LEADERS,
    "deny": LEADERS,
    "send_back": LEADERS,
    "return_result": DESK,
    "withdraw": DESK,
    "stop": LEADERS,
}
OPEN = {
    "submitted", "received", "in_progress", "in_progress_last", "supplement_requested",
    "awaiting_approval", "result_ready",
}
WHEN = {
    "receive": {"submitted"},
    "refuse": {"submitted"},
    "start": {"received"},
    "forward": {"in_progress", "in_progress_last"},
    "request_supplement": {"in_progress", "in_progress_last"},
    "supplement": {"supplement_requested"},
    "submit_for_approval": {"in_progress", "in_progress_last"},
    "approve": {"awaiting_approval"},
    "deny": {"awaiting_approval"},
    "send_back": {"awaiting_approval"},
    "return_result": {"result_ready"},
    "withdraw": OPEN,
    "stop": OPEN - {"submitted"},
}
PROCESS_REFUSES = {("forward", "in_progress_last"), ("submit_for_approval", "in_progress")}
TARGET = {
    "receive": "received", "refuse": "refused", "start": "in_progress", "forward": "in_progress",
    "request_supplement": "supplement_requested", "supplement": "in_progress",
    "submit_for_approval": "awaiting_approval", "approve": "result_ready",
    "deny": "result_ready", "send_back": "in_progress", "return_result": "returned",
    "withdraw": "withdrawn", "stop": "stopped",
}
PAYLOAD = {
    "refuse": {"reasons": ["Thủ tục không thuộc thẩm quyền của cơ quan"]},
    "request_supplement": {"missing_documents": ["Bản sao giấy chứng nhận"]},
    "deny": {"reasons": ["Không đủ điều kiện theo quy định"]},
    "send_back": {"comment": "Đề nghị thẩm định lại"},
    "withdraw": {"reason": "Công dân có đơn xin rút"},
    "stop": {"legal_basis": "Điều 20 Nghị định 118/2025/NĐ-CP"},
}


def expected(state: str, transition: str, role: str) -> str:
    tied_to_process = role in ("officer", "officer2", "leader") and transition != "stop"
    if role not in WHO[transition]:
        return "403"
    if tied_to_process and role != "superuser" and state in ("submitted", "refused"):
        return "403"
    if state not in WHEN[transition] or (transition, state) in PROCESS_REFUSES:
        return "400"
    return "200"


class _Rollback(Exception):
    pass


def attempt(dossier, transition, user) -> tuple[str, str]:
    """Run one transition in a savepoint, always rolled back: (outcome, state reached)."""
    events_before = DossierEvent.objects.filter(dossier=dossier).count()
    outcome, reached = "", ""
    try:
        with transaction.atomic():
            try:
                result = act(dossier, transition, user, **PAYLOAD.get(transition, {}))
            except PermissionDenied:
                outcome = "403"
            except TransitionNotAllowed as exc:
                assert exc.code == "transition_not_allowed"
                outcome = "400"
            else:
                outcome, reached = "200", result.state
                assert result.version == dossier.version + 1
                assert DossierEvent.objects.filter(dossier=dossier).count() == events_before + 1
            if outcome != "200":
                assert DossierEvent.objects.filter(dossier=dossier).count() == events_before
            raise _Rollback
    except _Rollback:
        pass
    return outcome, reached


@pytest.mark.django_db
@pytest.mark.parametrize("state", STATES)
def test_every_transition_for_every_role_in_state(state, org, version, frozen):
    dossier = dossier_in(org, version, state)
    expected_state = state.replace("_last", "")
    assert dossier.state == expected_state
    mismatches = []
    for transition in WHO:
        for role in ROLES:
            want = expected(state, transition, role)
            got, reached = attempt(dossier, transition, getattr(org, role))
            if got != want:
                mismatches.append(f"{transition} by {role}: expected {want}, got {got}")
            elif got == "200" and reached != TARGET[transition]:
                mismatches.append(f"{transition} by {role}: reached {reached}")
    dossier.refresh_from_db()
    assert dossier.state == expected_state  # every attempt was rolled back
    assert not mismatches, "\n".join(mismatches)


def test_the_table_covers_every_transition_and_state():
    from dossiers.models import State, Transition

    assert set(WHO) == set(Transition.values)
    assert {s.replace("_last", "") for s in STATES} == set(State.values)
