"""Every URL of the site has a permission rule (issue 9).

The test walks ``motcua.urls`` (every included list, recursively) and requires each named
pattern to appear in :data:`RULES`, except the explicit :data:`EXEMPT_PREFIXES` (Django's
admin, which guards itself). A new URL without a rule fails :func:`test_every_url_has_a_rule`, naming it.

Each rule says, per persona and per method, what the answer must be, and is then checked
against real objects: dossiers of agency A (``000.00.10.H01``), one of agency B, a rating, an
attachment, a notice… One dataset is built for the whole module (``world``) and every request
runs inside a savepoint that is rolled back, so a permitted POST (an approval, an upload)
changes nothing for the next persona.

Personas: ``anonymous``; ``citizen`` (no account, but holding the second factor: the phone
number the dossier was filed with, or the browser session that submitted it); ``clerk`` (the
desk of A); ``officer`` (A's specialist unit, on the dossier's process); ``officer_x`` (an
officer of another unit of A, not on the process); ``officer_b``, ``leader_b``, ``clerk_b``
(agency B); ``leader`` (A's leaders); ``admin`` (catalogue admin); ``supervisor`` (UBND office);
``root`` (superuser).

"Sees nothing": for the personas in a rule's ``blind`` set, the body (HTML, JSON, or the cells
of an xlsx) must not contain A's dossier code, its applicant's name or ID number — whatever the
status. On the public proof endpoints the applicant's personal data is checked for everyone,
the citizen with proof included.

"Cannot approve": where a POST changes something (an approval, an assignment, an upload, a
reception), the rule names what it changes and who may change it; for everyone else the value
must be the same after the request, whatever the status said.

Beyond permissions: every rule's request is sent again with hostile input (NUL bytes, lone
surrogates, 5,000-character values, in the query, the body and the path): never a 5xx.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from motcua.models import Agency, CalendarDay, Role, StaffNotice
from tests.dossier_factories import act, build_org, make_procedure, receive, staff, submit_online
from tests.factories import UnitFactory

pytestmark = pytest.mark.django_db

# ---------------------------------------------------------------------------------------------
# The URL walk
# ---------------------------------------------------------------------------------------------

#: URL prefixes left out on purpose. Django's admin guards every page itself (staff flag and
#: model permissions), and is tested by Django; static files are served by WhiteNoise from
#: STATIC_ROOT, outside the URLconf.
EXEMPT_PREFIXES = ("admin/",)


def walk(patterns=None, prefix: str = ""):
    """``(route, name)`` of every pattern, descending into every ``include``."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.name


def routed_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for route, name in walk():
        if route.startswith(EXEMPT_PREFIXES) or route.lstrip("^").startswith(EXEMPT_PREFIXES):
            continue
        names[name or f"<unnamed: {route}>"] = route
    return names


# ---------------------------------------------------------------------------------------------
# Personas and expectations
# ---------------------------------------------------------------------------------------------

PERSONAS = (
    "anonymous", "citizen", "clerk", "officer", "officer_x", "officer_b", "leader", "leader_b",
    "clerk_b", "admin", "supervisor", "root",
)
STAFF = PERSONAS[2:]
#: Who may see dossier A at all (Dossier visibility, dossiers/permissions.py).
SEES_A = frozenset({"clerk", "officer", "leader", "supervisor", "root"})
BLIND_TO_A = frozenset(PERSONAS) - SEES_A

LOGIN = "login"  # 302 to the staff login page
OK = "ok"  # allowed: 2xx, a redirect elsewhere than the login page, or 400/409 (input refused)
REDIRECT = "redirect"  # 302 elsewhere than the login page


def who(default, **per_persona) -> dict[str, object]:
    unknown = set(per_persona) - set(PERSONAS)
    assert not unknown, unknown
    return {p: per_persona.get(p, default) for p in PERSONAS}


def staff_page(allowed: set[str] | frozenset[str], *, denied=403, good=200, anonymous=LOGIN):
    """A login-required page: the ``allowed`` personas (and the superuser) get ``good``, other
    staff ``denied``."""
    return who(denied, anonymous=anonymous, citizen=anonymous,
               **{p: good for p in {*allowed, "root"}})


def api(allowed, *, denied=403, good=200):
    """A token-authenticated API endpoint (no token: 401)."""
    return staff_page(allowed, denied=denied, good=good, anonymous=401)


EVERYONE = frozenset(STAFF)  # every member of staff, whatever the role
WORKERS = frozenset({"clerk", "officer", "officer_x", "officer_b", "leader", "leader_b", "clerk_b"})
CLERKS = frozenset({"clerk", "clerk_b"})
LEADERS = frozenset({"leader", "leader_b"})


@dataclass(frozen=True)
class Rule:
    get: dict | None = None
    post: dict | None = None
    kwargs: Callable = lambda w: {}
    #: query string (GET) and body (POST) for one persona: ``(world, persona) -> dict``
    query: Callable = lambda w, p: {}
    data: Callable = lambda w, p: {}
    #: multipart body with a PDF under this field name (POST)
    upload: str = ""
    #: JSON body (POST)
    as_json: bool = False
    #: ``/api/v1/``: token authentication instead of the session
    token: bool = False
    blind: frozenset = BLIND_TO_A
    #: public endpoint that takes the citizen's proof: personal data hidden from everyone
    proof: bool = False
    #: what a permitted POST changes, read before the savepoint is rolled back:
    #: ``(world) -> value``; only the personas in ``may_change`` may change it
    effect: Callable | None = None
    may_change: frozenset = frozenset()
    note: str = ""


def pdf_bytes() -> bytes:
    return b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _phone(w, p):
    return w.phone_a if p == "citizen" else w.wrong_phone


def _fresh(dossier):
    return type(dossier).objects.get(pk=dossier.pk)


def _state(dossier) -> str:
    return _fresh(dossier).state


def _dossier(name):
    return lambda w: {"code": getattr(w, name).code}


RULES: dict[str, Rule] = {
    # --- Public catalogue, portal pages, operations ------------------------------------------
    "public-home": Rule(get=who(200), blind=frozenset(PERSONAS)),
    "public-procedure": Rule(get=who(200), kwargs=lambda w: {"code": w.proc_a.procedure.code},
                             blind=frozenset(PERSONAS)),
    "public-document-template": Rule(
        get=who(200), kwargs=lambda w: {"code": w.proc_a.procedure.code, "pk": w.doc_a.pk},
        blind=frozenset(PERSONAS)),
    "public-figures": Rule(get=who(200), blind=frozenset(PERSONAS)),
    "health": Rule(get=who(200), blind=frozenset(PERSONAS)),
    "api-schema": Rule(get=who(200), blind=frozenset(PERSONAS)),
    "api-docs": Rule(get=who(200), blind=frozenset(PERSONAS)),
    "set_language": Rule(post=who(REDIRECT), data=lambda w, p: {"language": "en", "next": "/"},
                         blind=frozenset(PERSONAS)),
    "login": Rule(get=who(REDIRECT, anonymous=200, citizen=200),
                  post=who(REDIRECT, anonymous=200, citizen=200),
                  data=lambda w, p: {"username": "clerk_a", "password": "sai-mat-khau"},
                  blind=frozenset(PERSONAS)),
    "logout": Rule(post=who(LOGIN), blind=frozenset(PERSONAS)),
    "login-code": Rule(get=who(REDIRECT, anonymous=LOGIN, citizen=LOGIN),
                       post=who(REDIRECT, anonymous=LOGIN, citizen=LOGIN),
                       blind=frozenset(PERSONAS),
                       note="no password given first: back to the login page; "
                            "logged in without a device: nothing to verify, go on"),
    "two-factor-enrol": Rule(get=staff_page(EVERYONE), note="anyone may enrol an authenticator"),
    # --- Tracking: code + phone ---------------------------------------------------------------
    "public-track": Rule(
        get=who(200), post=who(404, citizen=200), proof=True,
        query=lambda w, p: {"ma": w.d_progress.code},
        data=lambda w, p: {"code": w.d_progress.code, "phone": _phone(w, p)},
        blind=frozenset(PERSONAS) - {"citizen"},
        note="wrong phone = the same 404 as a wrong code"),
    "public-track-api": Rule(
        get=who(404, citizen=200), proof=True, kwargs=_dossier("d_progress"),
        query=lambda w, p: {"phone": _phone(w, p)}, blind=frozenset(PERSONAS) - {"citizen"}),
    # --- Online submission: the browser session that submitted is the proof -------------------
    "public-submit-start": Rule(get=who(200), blind=frozenset(PERSONAS)),
    "public-submit": Rule(get=who(200), post=who(400), proof=True,
                          kwargs=lambda w: {"code": w.proc_a.procedure.code},
                          blind=frozenset(PERSONAS)),
    "public-submit-done": Rule(get=who(404, citizen=200), proof=True,
                               kwargs=lambda w: {"code": w.d_online.provisional_code},
                               blind=frozenset(PERSONAS)),
    "public-submit-pay": Rule(post=who(404, citizen=REDIRECT), proof=True,
                              kwargs=lambda w: {"code": w.d_online.provisional_code},
                              blind=frozenset(PERSONAS)),
    "api-public-submit": Rule(post=who(400), proof=True, as_json=True, blind=frozenset(PERSONAS)),
    # --- Payment: code + phone, or the gateway's signature ------------------------------------
    "public-pay": Rule(get=who(200), post=who(404, citizen=OK), proof=True,
                       data=lambda w, p: {"code": w.d_progress.code, "phone": _phone(w, p)},
                       blind=frozenset(PERSONAS) - {"citizen"}),
    "payment-return": Rule(get=who(400), proof=True, query=lambda w, p: {"ref": "X", "sig": "x"},
                           blind=frozenset(PERSONAS)),
    "payment-demo-gateway": Rule(get=who(400), post=who(400), proof=True,
                                 kwargs=lambda w: {"reference": "TT-X"},
                                 blind=frozenset(PERSONAS), note="unsigned order"),
    "api-payment-callback": Rule(post=who(400), proof=True, as_json=True,
                                 data=lambda w, p: {"ref": "X", "status": "paid"},
                                 blind=frozenset(PERSONAS)),
    # --- Ratings: code + phone ----------------------------------------------------------------
    "public-rate": Rule(
        get=who(200), post=who(404, citizen=REDIRECT), proof=True,
        data=lambda w, p: {"code": w.d_returned.code, "phone": _phone(w, p),
                           "overall": "satisfied"},
        blind=frozenset(PERSONAS)),
    "public-rate-thanks": Rule(get=who(REDIRECT), blind=frozenset(PERSONAS)),
    "public-rate-kiosk": Rule(
        get=who(200), post=who(404, citizen=200), proof=True,
        data=lambda w, p: {"code": w.d_returned.code, "phone": _phone(w, p)},
        blind=frozenset(PERSONAS)),
    "public-rate-kiosk-thanks": Rule(get=who(200), blind=frozenset(PERSONAS)),
    "api-public-ratings": Rule(
        post=who(404, citizen=201), proof=True, as_json=True,
        data=lambda w, p: {"code": w.d_returned.code, "phone": _phone(w, p),
                           "answers": {"overall": "satisfied"}},
        blind=frozenset(PERSONAS)),
    # --- Staff home, notices --------------------------------------------------------------------
    "staff-home": Rule(get=staff_page(EVERYONE)),
    "notice-list": Rule(get=staff_page(EVERYONE), note="each sees only their own notices"),
    "notice-bell": Rule(get=staff_page(EVERYONE)),
    "notice-read-all": Rule(post=staff_page(EVERYONE, good=REDIRECT)),
    "notice-open": Rule(post=staff_page({"officer"}, denied=404, good=REDIRECT) | {"root": 404},
                        kwargs=lambda w: {"pk": w.notice.pk}, note="officer's own notice"),
    # --- Calendar, catalogue: catalogue admins --------------------------------------------------
    "calendar-days": Rule(get=staff_page({"admin"})),
    "calendar-check": Rule(get=staff_page({"admin"})),
    "calendar-day-edit": Rule(get=staff_page({"admin"}), kwargs=lambda w: {"day": w.day_off}),
    "calendar-day-delete": Rule(post=staff_page({"admin"}, good=REDIRECT),
                                kwargs=lambda w: {"day": w.day_off}),
    "catalogue-list": Rule(get=staff_page({"admin"})),
    "catalogue-create": Rule(get=staff_page({"admin"}), post=staff_page({"admin"}, good=OK)),
    "catalogue-export": Rule(get=staff_page({"admin"})),
    "catalogue-import": Rule(get=staff_page({"admin"})),
    "catalogue-import-errors": Rule(get=staff_page({"admin"}, good=404),
                                    kwargs=lambda w: {"token": "abc"},
                                    note="no import report in this session"),
    "catalogue-document-template": Rule(get=staff_page({"admin"}),
                                        kwargs=lambda w: {"pk": w.doc_a.pk}),
    "catalogue-detail": Rule(get=staff_page({"admin"}),
                             kwargs=lambda w: {"code": w.proc_a.procedure.code}),
    "catalogue-edit": Rule(get=staff_page({"admin"}), post=staff_page({"admin"}, good=OK),
                           kwargs=lambda w: {"code": w.proc_a.procedure.code}),
    "catalogue-version": Rule(get=staff_page({"admin"}),
                              kwargs=lambda w: {"code": w.proc_a.procedure.code, "number": 1}),
    "catalogue-set-active": Rule(post=staff_page({"admin"}, good=OK),
                                 kwargs=lambda w: {"code": w.proc_a.procedure.code},
                                 data=lambda w, p: {"active": "0"}),
    # --- Dossier lists and the desk -------------------------------------------------------------
    "dossier-queue": Rule(get=staff_page(WORKERS)),
    "dossier-queue-export": Rule(get=staff_page(WORKERS)),
    "dossier-search": Rule(get=staff_page(WORKERS | {"supervisor"}), query=lambda w, p: {"q": ""}),
    "dossier-search-export": Rule(get=staff_page(WORKERS | {"supervisor"})),
    "dossier-bulk": Rule(post=staff_page(WORKERS, good=REDIRECT),
                         data=lambda w, p: {"action": "approve",
                                            "pick": f"{w.d_waiting.code}@{w.d_waiting.version}"},
                         effect=lambda w: _state(w.d_waiting), may_change=frozenset({"leader", "root"}),
                         note="a bulk action only touches dossiers the user may act on"),
    "desk": Rule(get=staff_page(CLERKS), post=staff_page(CLERKS, good=OK)),
    "desk-procedures": Rule(get=staff_page(CLERKS)),
    "desk-procedure": Rule(get=staff_page(CLERKS), kwargs=lambda w: {"code": w.proc_a.procedure.code},
                           note="the catalogue's summary, public anyway"),
    "desk-citizen": Rule(get=staff_page(CLERKS), query=lambda w, p: {"id_number": "089085000999"}),
    "desk-appointment": Rule(get=staff_page(CLERKS, good=OK),
                             query=lambda w, p: {"procedure": w.proc_a.procedure.code}),
    "desk-supplement-slip": Rule(post=staff_page(CLERKS, good=OK)),
    # --- One dossier of A (in progress at A's specialist unit) ---------------------------------
    "dossier-page": Rule(get=staff_page(SEES_A, denied=404), kwargs=_dossier("d_progress")),
    "dossier-act": Rule(
        post=staff_page({"leader"}, denied=404, good=OK)
        | {"clerk": 403, "officer": 403, "supervisor": 403},
        kwargs=lambda w: {"code": w.d_waiting.code, "transition": "approve"},
        data=lambda w, p: {"expected_version": w.d_waiting.version, "comment": "Đồng ý"},
        effect=lambda w: _state(w.d_waiting), may_change=frozenset({"leader", "root"}),
        note="a clerk or an officer cannot approve; other units do not even see the dossier"),
    "dossier-assign": Rule(
        post=staff_page({"leader"}, denied=404, good=OK)
        | {"clerk": 403, "officer": 403, "supervisor": 403},
        kwargs=_dossier("d_progress"),
        data=lambda w, p: {"officer": w.org.officer2.pk, "expected_version": w.d_progress.version},
        effect=lambda w: _fresh(w.d_progress).current_handler_id,
        may_change=frozenset({"leader", "root"})),
    "dossier-attach": Rule(
        post=staff_page({"clerk"}, denied=404, good=OK)
        | {"officer": 400, "leader": 403, "supervisor": 403},
        kwargs=_dossier("d_progress"), upload="files", data=lambda w, p: {"kind": "scan"},
        effect=lambda w: w.d_progress.attachments.count(), may_change=frozenset({"clerk", "root"}),
        note="the officer may attach the result only: a scan is not among his choices (400)"),
    "dossier-file": Rule(
        get=staff_page({"clerk", "officer", "leader"}, denied=404),
        kwargs=lambda w: {"code": w.d_progress.code, "pk": w.attachment.pk},
        note="supervisors see that files exist, not their content"),
    "dossier-document": Rule(get=staff_page(SEES_A, denied=404),
                             kwargs=lambda w: {"code": w.d_progress.code, "kind": "receipt"}),
    # --- Reports --------------------------------------------------------------------------------
    "reports-dashboard": Rule(get=staff_page(LEADERS | {"supervisor"})),
    "reports-summary-export": Rule(get=staff_page(LEADERS | {"supervisor"})),
    "reports-dossiers": Rule(get=staff_page(LEADERS | {"supervisor"}),
                             query=lambda w, p: {"figure": "received"}),
    "reports-dossiers-export": Rule(get=staff_page(LEADERS | {"supervisor"}),
                                    query=lambda w, p: {"figure": "received"}),
    "reports-staff": Rule(get=staff_page(LEADERS | {"supervisor"})),
    "reports-register": Rule(get=staff_page(LEADERS | {"supervisor"})),
    "reports-weekly": Rule(get=staff_page({"supervisor"})),
    "reports-weekly-file": Rule(get=staff_page({"supervisor"}, good=404),
                                kwargs=lambda w: {"year": "2026", "week": "47", "ext": "pdf"},
                                note="no report built for that week"),
    "reports-control-sheet": Rule(get=staff_page(SEES_A, denied=404),
                                  kwargs=_dossier("d_progress")),
    "staff-ratings": Rule(get=staff_page(EVERYONE), blind=BLIND_TO_A - {"admin"},
                          note="catalogue admins and supervisors see every rating"),
    "staff-ratings-export": Rule(get=staff_page(EVERYONE), blind=BLIND_TO_A - {"admin"}),
    # --- Audit: the access log and change history (superusers), who read a dossier (leaders) --
    "audit-history": Rule(get=staff_page(set())),
    "audit-history-export": Rule(get=staff_page(set())),
    "audit-dossier-access": Rule(get=staff_page({"leader"}) | {"leader_b": 404},
                                 kwargs=_dossier("d_progress"),
                                 note="a leader of another agency: as for an unknown code"),
    "audit-dossier-access-export": Rule(get=staff_page({"leader"}) | {"leader_b": 404},
                                        kwargs=_dossier("d_progress")),
    # --- REST API /api/v1/ (token) -------------------------------------------------------------
    "api-token": Rule(post=who(400), as_json=True,
                      data=lambda w, p: {"username": "clerk_a", "password": "sai-mat-khau"},
                      blind=frozenset(PERSONAS)),
    "api-procedure-list": Rule(get=api(EVERYONE), token=True, blind=frozenset(PERSONAS)),
    "api-procedure-detail": Rule(get=api(EVERYONE), token=True, blind=frozenset(PERSONAS),
                                 kwargs=lambda w: {"code": w.proc_a.procedure.code}),
    "api-procedure-appointment": Rule(
        get=api(EVERYONE), token=True, blind=frozenset(PERSONAS),
        kwargs=lambda w: {"code": w.proc_a.procedure.code},
        query=lambda w, p: {"received_at": "2026-12-07T09:00:00+07:00"}),
    "dossier-list": Rule(
        get=api(EVERYONE),
        post=api({"clerk"}, good=201),
        token=True, as_json=True,
        effect=lambda w: w.proc_a.dossiers.count(), may_change=frozenset({"clerk", "root"}),
        data=lambda w, p: {"procedure": w.proc_a.procedure.code, "channel": "in_person",
                           "applicant": {"name": "Lê Văn Mới", "id_number": "089085000777",
                                         "phone": "0903000111"}},
        note="only A's desk receives for A"),
    "dossier-detail": Rule(get=api(SEES_A, denied=404), token=True, kwargs=_dossier("d_progress")),
    "dossier-transitions": Rule(
        post=api({"leader"}, denied=404) | {"clerk": 403, "officer": 403, "supervisor": 403},
        token=True, as_json=True, kwargs=_dossier("d_waiting"),
        data=lambda w, p: {"transition": "approve", "comment": "Đồng ý"},
        effect=lambda w: _state(w.d_waiting), may_change=frozenset({"leader", "root"})),
    "dossier-attachments": Rule(
        post=api({"clerk"}, denied=404, good=201)
        | {"officer": 403, "leader": 403, "supervisor": 403},
        token=True, upload="file", kwargs=_dossier("d_progress"), data=lambda w, p: {"kind": "scan"},
        effect=lambda w: w.d_progress.attachments.count(), may_change=frozenset({"clerk", "root"})),
    "api-dossier-document": Rule(get=api(SEES_A, denied=404), token=True,
                                 kwargs=lambda w: {"code": w.d_progress.code, "kind": "receipt"}),
    "api-dossier-apology": Rule(get=api(set(), denied=404) | {"root": 404}, token=True,
                                kwargs=lambda w: {"code": w.d_progress.code, "number": "1"},
                                note="no apology letter yet: 404 for all, the same as hidden"),
    "api-report-summary": Rule(get=api(LEADERS | {"supervisor"}), token=True),
    "api-report-weekly": Rule(get=api({"supervisor"}, good=404), token=True,
                              kwargs=lambda w: {"year": "2026", "week": "47", "ext": "xlsx"}),
}


# ---------------------------------------------------------------------------------------------
# The dataset (once per module)
# ---------------------------------------------------------------------------------------------

APPLICANT_A = {
    "name": "Trần Thị Bí Mật",
    "id_number": "089085000999",
    "phone": "0987654321",
    "email": "bimat@example.vn",
    "address": "99 Đường Kín, phường Long Xuyên, An Giang",
}


def _docx() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def build_world() -> SimpleNamespace:
    from dossiers.services import dossier_attach
    from ratings.services import rating_submit

    org = build_org()
    UnitFactory(agency=org.a, code="KT", name="Phòng Kinh tế")
    officer_x = staff("officer_ax", (org.a.units.get(code="KT"), Role.OFFICER))
    province = Agency.objects.create(code="000.00.00.H01", name="UBND tỉnh thử nghiệm",
                                     kind=Agency.Kind.PROVINCE)
    office = UnitFactory(agency=province, code="VP", name="Văn phòng UBND")
    supervisor = staff("supervisor_p", (office, Role.SUPERVISOR))

    proc_a = make_procedure(agency=org.a, code="1.000001.000.00.00.H01")
    proc_b = make_procedure(agency=org.b, code="1.000002.000.00.00.H01")
    doc_a = proc_a.documents.order_by("position").first()
    doc_a.template.save("mau-don.docx", ContentFile(_docx()), save=True)

    d_received = receive(org, proc_a, applicant=APPLICANT_A)
    d_progress = act(receive(org, proc_a, applicant=APPLICANT_A), "start", org.clerk)
    d_waiting = receive(org, proc_a, applicant=APPLICANT_A)
    for who_, name in (("clerk", "start"), ("officer", "forward"), ("officer", "submit_for_approval")):
        d_waiting = act(d_waiting, name, getattr(org, who_))
    d_returned = receive(org, proc_a, applicant=APPLICANT_A)
    for who_, name in (("clerk", "start"), ("officer", "forward"), ("officer", "submit_for_approval"),
                       ("leader", "approve"), ("clerk", "return_result")):
        d_returned = act(d_returned, name, getattr(org, who_))
    d_online = submit_online(org, proc_a, applicant=APPLICANT_A)
    d_rated = receive(org, proc_a, applicant=APPLICANT_A)
    for who_, name in (("clerk", "start"), ("officer", "forward"), ("officer", "submit_for_approval"),
                       ("leader", "approve"), ("clerk", "return_result")):
        d_rated = act(d_rated, name, getattr(org, who_))
    rating_submit(code=d_rated.code, phone=APPLICANT_A["phone"], answers={"overall": "satisfied"},
                  source="link", ip="10.0.0.9")
    d_b = act(receive(org, proc_b, actor=org.clerk_b), "start", org.clerk_b)

    attachment = dossier_attach(
        dossier=d_progress, file=SimpleUploadedFile("ban-quet.pdf", pdf_bytes()), kind="scan",
        actor=org.clerk,
    )
    notice = StaffNotice.objects.create(
        user=org.officer, kind=StaffNotice.Kind.ARRIVED, dossier=d_progress,
        title=f"Hồ sơ {d_progress.code} chuyển đến", url=f"/staff/dossiers/{d_progress.code}/",
    )
    CalendarDay.objects.create(date="2026-12-28", kind=CalendarDay.Kind.values[0],
                                         note="Nghỉ bù thử nghiệm")

    users = {
        "clerk": org.clerk, "officer": org.officer, "officer_x": officer_x,
        "officer_b": org.officer_b, "leader": org.leader, "leader_b": org.leader_b,
        "clerk_b": org.clerk_b, "admin": org.admin, "supervisor": supervisor,
        "root": org.superuser,
    }
    return SimpleNamespace(
        org=org, users=users, proc_a=proc_a, proc_b=proc_b, doc_a=doc_a,
        d_received=d_received, d_progress=d_progress, d_waiting=d_waiting,
        d_returned=d_returned, d_online=d_online, d_rated=d_rated, d_b=d_b,
        attachment=attachment, notice=notice, day_off="2026-12-28",
        phone_a=APPLICANT_A["phone"], wrong_phone="0909999999",
        secrets=[d.code for d in (d_received, d_progress, d_waiting, d_returned, d_rated)]
        + [d_online.provisional_code, APPLICANT_A["name"], APPLICANT_A["id_number"]],
        personal=[APPLICANT_A["name"], APPLICANT_A["id_number"], APPLICANT_A["address"],
                  APPLICANT_A["email"]],
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once, inside a transaction rolled back when the module ends."""
    from motcua.celery import app

    media = tmp_path_factory.mktemp("media")
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    with django_db_blocker.unblock(), override_settings(
        MEDIA_ROOT=str(media), PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
    ):
        with transaction.atomic():
            w = build_world()
            w.clients = _clients(w)
            yield w
            transaction.set_rollback(True)
    app.conf.task_always_eager = eager


def _clients(w) -> dict[str, dict[str, Client]]:
    from rest_framework.authtoken.models import Token

    from dossiers.public.online import OWNED_KEY

    sessions: dict[str, Client] = {"anonymous": Client(), "citizen": Client()}
    tokens: dict[str, Client] = {"anonymous": Client(), "citizen": Client()}
    session = sessions["citizen"].session
    session[OWNED_KEY] = [w.d_online.provisional_code]
    session.save()
    sessions["citizen"].cookies["sessionid"] = session.session_key
    for persona, user in w.users.items():
        client = Client()
        client.force_login(user)
        sessions[persona] = client
        key = Token.objects.create(user=user).key
        tokens[persona] = Client(HTTP_AUTHORIZATION=f"Token {key}")
    return {"session": sessions, "token": tokens}


# ---------------------------------------------------------------------------------------------
# Checking one rule
# ---------------------------------------------------------------------------------------------


@contextmanager
def rolled_back(client):
    """Whatever the request writes is undone (even after a database error), and the client
    keeps its session cookie (a logout must not end the next request's session)."""
    cookies = copy.deepcopy(client.cookies)
    try:
        with transaction.atomic():
            yield
            transaction.set_rollback(True)
    finally:
        client.cookies = cookies


def body_text(response) -> str:
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)
    else:
        content = response.content
    kind = response.get("Content-Type", "")
    if "spreadsheetml" in kind:
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
        return "\n".join(
            str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
            for cell in row if cell is not None
        )
    text = content.decode("utf-8", "replace")
    if "json" in kind:
        try:
            return json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:
            return text
    return text


def matches(expected, response) -> bool:
    status = response.status_code
    location = response.get("Location", "")
    login = reverse("login")
    to_login = status == 302 and location.split("?")[0].endswith(login)
    if expected == LOGIN:
        return to_login
    if expected == REDIRECT:
        return status in (301, 302, 303) and not to_login
    if expected == OK:
        return (200 <= status < 300 or status in (400, 409)
                or (status in (301, 302, 303) and not to_login))
    return status == expected


def request(w, rule: Rule, method: str, persona: str):
    client = w.clients["token" if rule.token else "session"][persona]
    url = reverse(NAME_OF[id(rule)], kwargs=rule.kwargs(w))
    if method == "get":
        return client.get(url, rule.query(w, persona))
    data = rule.data(w, persona)
    if rule.upload:
        data = {**data, rule.upload: SimpleUploadedFile("ho-so.pdf", pdf_bytes(), "application/pdf")}
        return client.post(url, data)
    if rule.as_json:
        return client.post(url, json.dumps(data), content_type="application/json")
    return client.post(url, data)


def _flat(data) -> list:
    if isinstance(data, dict):
        return [v for value in data.values() for v in _flat(value)]
    if isinstance(data, list | tuple):
        return [v for value in data for v in _flat(value)]
    return [data]


NAME_OF = {id(rule): name for name, rule in RULES.items()}


def check(w, name: str) -> list[str]:
    rule = RULES[name]
    problems = []
    for method in ("get", "post"):
        expected = getattr(rule, method)
        if expected is None:
            continue
        for persona in PERSONAS:
            cache.clear()  # throttles and proof lock-outs start afresh for each request
            client = w.clients["token" if rule.token else "session"][persona]
            with rolled_back(client):
                before = rule.effect(w) if rule.effect and method == "post" else None
                response = request(w, rule, method, persona)
                text = body_text(response)
                after = rule.effect(w) if rule.effect and method == "post" else None
            if before != after and persona not in rule.may_change:
                problems.append(f"{name} {method.upper()} as {persona} changed {before!r} to {after!r}")
            if method == "post" and rule.effect and before == after and persona in rule.may_change:
                problems.append(f"{name} {method.upper()} as {persona} should have changed "
                                f"{before!r} (the check would prove nothing)")
            if not matches(expected[persona], response):
                problems.append(
                    f"{name} {method.upper()} as {persona}: expected {expected[persona]}, got "
                    f"{response.status_code} {response.get('Location', '')}".rstrip()
                )
            hidden = list(w.personal) if rule.proof else []
            if persona in rule.blind:
                hidden += w.secrets
            # What the requester typed may be echoed (the code in a form): not a leak.
            typed = " ".join(str(v) for v in (*rule.kwargs(w).values(),
                                              *rule.query(w, persona).values(),
                                              *_flat(rule.data(w, persona))))
            leaked = [s for s in hidden if s in text and s not in typed]
            if leaked:
                problems.append(f"{name} {method.upper()} as {persona} reveals {leaked}")
    return problems


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_every_url_has_a_rule():
    names = routed_names()
    missing = sorted(set(names) - set(RULES))
    assert not missing, (
        "URL patterns without a permission rule in tests/test_url_permissions.py RULES "
        "(say who may GET/POST them): "
        + ", ".join(f"{n} ({names[n]})" for n in missing)
    )
    stale = sorted(set(RULES) - set(names))
    assert not stale, f"RULES name URL patterns that no longer exist: {stale}"


def test_exempt_list_is_only_the_admin():
    exempt = {route for route, _name in walk() if route.startswith(EXEMPT_PREFIXES)}
    assert exempt and all(route.startswith("admin/") for route in exempt)


@pytest.mark.parametrize("name", sorted(RULES))
def test_url_permissions(world, name):
    problems = check(world, name)
    assert not problems, "\n".join(problems)


def test_positive_control_other_agency_sees_its_own(world):
    """The "sees nothing" checks mean something: agency B's officer finds B's dossier in the
    same lists where A's are hidden from him."""
    client = world.clients["session"]["officer_b"]
    cache.clear()
    body = body_text(client.get(reverse("dossier-search")))
    assert world.d_b.code in body
    assert not any(code in body for code in world.secrets)
    api_body = body_text(world.clients["token"]["officer_b"].get(reverse("dossier-list")))
    assert world.d_b.code in api_body


@pytest.mark.parametrize("name", ["api-public-ratings", "public-rate", "public-rate-kiosk",
                                  "public-pay", "public-track"])
def test_a_wrong_phone_and_an_unknown_code_get_the_same_answer(world, name):
    """Without the second factor nothing tells whether the code exists: the same status, and
    (for the API) the same body, as for a code that was never issued."""
    rule = RULES[name]
    client = world.clients["session"]["anonymous"]
    answers = []
    for code in (world.d_returned.code, "000.00.10.H01-261206-9999"):
        data = {**rule.data(world, "anonymous"), "code": code, "phone": world.wrong_phone}
        cache.clear()
        with rolled_back(client):
            if rule.as_json:
                response = client.post(reverse(name), json.dumps(data),
                                       content_type="application/json")
            else:
                response = client.post(reverse(name), data)
        answers.append((response.status_code, body_text(response).replace(code, "<code>")))
    (status_1, body_1), (status_2, body_2) = answers
    assert status_1 == status_2 and status_1 in (400, 404)
    assert _without_tokens(body_1) == _without_tokens(body_2)


def _without_tokens(html: str) -> str:
    """A page less what differs on every request (the CSRF token, a script nonce, a request id)."""
    return re.sub(r'(csrfmiddlewaretoken" value="|nonce="|request-id" content=")[^"]*', r"\1", html)


def test_tracking_answer_is_the_same_for_wrong_phone_and_wrong_code(world):
    client = world.clients["session"]["anonymous"]
    cache.clear()
    wrong_phone = client.get(reverse("public-track-api", kwargs={"code": world.d_progress.code}),
                             {"phone": world.wrong_phone})
    cache.clear()
    unknown = client.get(reverse("public-track-api", kwargs={"code": "000.00.10.H01-261206-9999"}),
                         {"phone": world.wrong_phone})
    assert wrong_phone.status_code == unknown.status_code == 404
    assert wrong_phone.content == unknown.content



@pytest.mark.parametrize("persona", ["officer_x", "officer_b", "leader_b", "clerk_b", "admin"])
def test_searching_for_the_applicant_finds_nothing_outside_the_unit(world, persona):
    """An officer of another unit sees nothing of A's dossiers, even when he searches for the
    applicant's phone or ID number, or filters the API by A's unit and procedure."""
    unit_a = world.org.units_a["CM"].pk
    searches = [
        (world.clients["session"][persona], reverse("dossier-search"), {"q": world.phone_a}),
        (world.clients["session"][persona], reverse("dossier-search"),
         {"q": APPLICANT_A["id_number"]}),
        (world.clients["token"][persona], reverse("dossier-list"), {"q": world.phone_a}),
        (world.clients["token"][persona], reverse("dossier-list"),
         {"unit": unit_a, "procedure": world.proc_a.procedure.code}),
        (world.clients["token"][persona], reverse("dossier-list"), {"queue": "1", "unit": unit_a}),
    ]
    for client, url, query in searches:
        cache.clear()
        response = client.get(url, query)
        text = body_text(response)
        assert response.status_code in (200, 400, 403), (url, query, response.status_code)
        leaked = [s for s in world.secrets if s in text and s not in query.values()]
        assert not leaked, f"{persona} {url}?{query} reveals {leaked}"


def test_searching_for_the_applicant_finds_the_dossiers_for_the_desk(world):
    """The positive control of the test above."""
    cache.clear()
    text = body_text(world.clients["session"]["clerk"].get(reverse("dossier-search"),
                                                           {"q": world.phone_a}))
    assert world.d_progress.code in text
    cache.clear()
    text = body_text(world.clients["token"]["clerk"].get(reverse("dossier-list"),
                                                         {"q": world.phone_a}))
    assert world.d_progress.code in text


def _poisoned(data, poison: str):
    if isinstance(data, dict):
        return {k: _poisoned(v, poison) for k, v in data.items()}
    if isinstance(data, list):
        return [_poisoned(v, poison) for v in data]
    if isinstance(data, str):
        return data + poison
    return data


#: What no form or query should turn into a server error: a NUL byte (PostgreSQL text refuses
#: it), a lone surrogate (not encodable as UTF-8), an overlong value.
POISONS = {"nul": "\x00", "surrogate": "\ud800", "long": "9" * 5000}


def _staff_only(rule: Rule) -> bool:
    expected = rule.get if rule.get is not None else rule.post
    return expected["anonymous"] in (LOGIN, 401)


@pytest.mark.parametrize("poison", sorted(POISONS))
def test_no_url_fails_on_hostile_input(world, poison):
    """Every rule's own request, with every value of its query and body spoilt: 4xx at worst.
    Asked by the citizen (with proof) on the public endpoints, by the superuser on the staff
    ones (no permission check stops him before the code that reads the input)."""
    failures = []
    for name, rule in RULES.items():
        persona = "root" if _staff_only(rule) else "citizen"
        client = world.clients["token" if rule.token else "session"][persona]
        url = reverse(name, kwargs=rule.kwargs(world))
        for method in ("get", "post"):
            if getattr(rule, method) is None:
                continue
            cache.clear()
            try:
                with rolled_back(client):
                    if method == "get":
                        query = _poisoned(rule.query(world, persona), POISONS[poison]) or {
                            "q": POISONS[poison]}
                        response = client.get(url, query)
                    else:
                        data = _poisoned(rule.data(world, persona), POISONS[poison]) or {
                            "x": POISONS[poison]}
                        response = (
                            client.post(url, json.dumps(data), content_type="application/json")
                            if rule.as_json else client.post(url, data))
            except UnicodeEncodeError:
                # The test client itself cannot encode a lone surrogate into a form body or a
                # query string; a browser cannot send one either.
                continue
            except Exception as exc:  # noqa: BLE001 - the test client re-raises a view's error
                failures.append(f"{name} {method.upper()}: {type(exc).__name__}: {exc}"[:300])
                continue
            if response.status_code >= 500:
                failures.append(f"{name} {method.upper()}: {response.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("poison", ["nul", "long"])
def test_no_url_fails_on_a_hostile_path(world, poison):
    """Each rule's URL with its text parameters (codes, days, tokens) spoilt: 4xx at worst."""
    failures = []
    for name, rule in RULES.items():
        kwargs = rule.kwargs(world)
        spoilt = {k: f"{v}{POISONS[poison]}" for k, v in kwargs.items() if isinstance(v, str)}
        if not spoilt:
            continue
        try:
            url = reverse(name, kwargs={**kwargs, **spoilt})
        except Exception:  # noqa: BLE001 - a pattern that cannot hold it: nothing to ask
            continue
        method = "get" if rule.get is not None else "post"
        client = world.clients["token" if rule.token else "session"]["root"]
        cache.clear()
        try:
            with rolled_back(client):
                response = getattr(client, method)(url)
        except Exception as exc:  # noqa: BLE001 - the test client re-raises a view's error
            failures.append(f"{name} {method.upper()}: {type(exc).__name__}: {exc}"[:300])
            continue
        if response.status_code >= 500:
            failures.append(f"{name} {method.upper()}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_a_leader_of_another_agency_counts_none_of_its_dossiers(world):
    """Report figures are dossiers too: agency B's leader asking for A's figures gets none of
    them (A's own leader, the positive control, gets them)."""
    query = {"agency": world.org.a.code, "from": "2026-01-01", "to": "2027-12-31"}

    def received(persona) -> int:
        cache.clear()
        response = world.clients["token"][persona].get(reverse("api-report-summary"), query)
        assert response.status_code == 200, response.content
        return response.json()["totals"]["received"]

    assert received("leader") >= 5
    assert received("leader_b") == 0
