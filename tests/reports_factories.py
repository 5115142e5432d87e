"""A small, deliberately awkward data set for the report tests, built through the services.

Weeks: 2025-W48 (Mon 24/11–Sun 30/11/2025) and 2025-W49 (Mon 1/12–Sun 7/12). Procedure of
agency A: 5 working days. The set is built with the clock stopped at each moment; it ends
on Wednesday 3/12/2025 12:00 ("now" of the reports).

| name       | story                                                                            |
|------------|----------------------------------------------------------------------------------|
| early      | received Mon 24/11 09:00, result ready Wed 26/11 (due Mon 1/12), returned, rated; |
|            | a second rating is attempted and refused                                          |
| on_time    | received Mon 24/11 09:30 (due 1/12 09:30), result ready Mon 1/12 08:00           |
| apologised | received Mon 24/11 10:00 (due 1/12 10:00), apology 1/12 11:00, ready Tue 2/12    |
| withdrawn  | received Mon 24/11 11:00, withdrawn Tue 25/11 09:00                               |
| overdue    | received Mon 24/11 14:00 (due 1/12 14:00), still in progress                      |
| supplement | received Tue 25/11 09:00, supplement asked Wed 26/11, brought Mon 1/12, running   |
| boundary   | online, received Fri 28/11 16:00 (across the week end), ready Tue 2/12 10:00      |
| refused    | submitted online and refused Tue 25/11 10:00 (never received)                     |
| other      | agency B, received Tue 25/11 09:00, untouched                                     |
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import time_machine
from django.db import IntegrityError, transaction

from tests.dossier_factories import TZ, act, make_procedure, receive, submit_online

NOW = datetime(2025, 12, 3, 12, 0, tzinfo=TZ)


def at(day: int, month: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=TZ)


def _to_ready(dossier, org, moment):
    with time_machine.travel(moment, tick=False):
        for who, name in (("officer", "forward"), ("officer", "submit_for_approval"),
                          ("leader", "approve")):
            dossier = act(dossier, name, getattr(org, who))
    return dossier


def _start(dossier, org, moment):
    with time_machine.travel(moment, tick=False):
        return act(dossier, "start", org.clerk)


def awkward_data(org, version) -> SimpleNamespace:
    from dossiers.deadlines import dossier_issue_apology
    from ratings.models import Rating

    d = SimpleNamespace()
    with time_machine.travel(at(24, 11, 9), tick=False):
        d.early = receive(org, version)
    with time_machine.travel(at(24, 11, 9, 30), tick=False):
        d.on_time = receive(org, version)
    with time_machine.travel(at(24, 11, 10), tick=False):
        d.apologised = receive(org, version)
    with time_machine.travel(at(24, 11, 11), tick=False):
        d.withdrawn = receive(org, version)
    with time_machine.travel(at(24, 11, 14), tick=False):
        d.overdue = receive(org, version)
    for name in ("early", "on_time", "apologised", "overdue"):
        setattr(d, name, _start(getattr(d, name), org, at(24, 11, 15)))

    with time_machine.travel(at(25, 11, 9), tick=False):
        d.supplement = receive(org, version)
        d.supplement = act(d.supplement, "start", org.clerk)
        d.withdrawn = act(d.withdrawn, "withdraw", org.clerk, reason="Công dân xin rút")
        other_version = make_procedure(
            agency=org.b, code="1.000002.000.00.00.H01", name="Thủ tục của Sở Tài chính"
        )
        d.other = receive(org, other_version, actor=org.clerk_b)
    with time_machine.travel(at(25, 11, 8), tick=False):
        d.refused = submit_online(org, version)
    with time_machine.travel(at(25, 11, 10), tick=False):
        d.refused = act(d.refused, "refuse", org.clerk, reasons=["Không thuộc thẩm quyền"])

    with time_machine.travel(at(26, 11, 10), tick=False):
        d.supplement = act(d.supplement, "request_supplement", org.officer,
                           missing_documents=["Bản sao giấy khai sinh"])
    d.early = _to_ready(d.early, org, at(26, 11, 10, 30))
    with time_machine.travel(at(27, 11, 9), tick=False):
        d.early = act(d.early, "return_result", org.clerk)
        d.rating = Rating.objects.create(
            dossier=d.early, overall="very_satisfied", time="satisfied",
            attitude="dissatisfied", comment="Cán bộ cần niềm nở hơn.", source="tracking",
        )
    # The citizen tries to rate again: the dossier is the rating's unique key.
    with time_machine.travel(at(27, 11, 10), tick=False):
        try:
            with transaction.atomic():
                Rating.objects.create(dossier=d.early, overall="dissatisfied", source="kiosk")
        except IntegrityError:
            d.second_rating_refused = True
        else:  # pragma: no cover - the schema would be wrong
            d.second_rating_refused = False

    with time_machine.travel(at(27, 11, 8), tick=False):
        d.boundary = submit_online(org, version)
    with time_machine.travel(at(28, 11, 16), tick=False):
        d.boundary = act(d.boundary, "receive", org.clerk)
    d.boundary = _start(d.boundary, org, at(28, 11, 16, 30))

    d.on_time = _to_ready(d.on_time, org, at(1, 12, 8))
    with time_machine.travel(at(1, 12, 9), tick=False):
        d.supplement = act(d.supplement, "supplement", org.clerk)
    d.apology = dossier_issue_apology(dossier=d.apologised, at=at(1, 12, 11))
    d.apologised = _to_ready(d.apologised.__class__.objects.get(pk=d.apologised.pk), org,
                             at(2, 12, 9))
    d.boundary = _to_ready(d.boundary, org, at(2, 12, 10))
    for name in vars(d):
        obj = getattr(d, name)
        if hasattr(obj, "refresh_from_db") and name not in ("rating", "apology"):
            obj.refresh_from_db()
    return d
