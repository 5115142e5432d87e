"""The reception's hot path (docs/dossier-lifecycle.md, "Reception performance"): a bounded
number of statements (the writes in one batch), the version's parts read once and kept only while nothing can change
them, the dossier written once with its current step, the answer equal to the serializer's,
and the duplicate foreign-key indexes gone."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from dossiers import permissions
from dossiers.api.serializers import DossierReceiptSerializer, receipt_data
from dossiers.models import Dossier, DossierEvent, DossierStep
from motcua.models import OutboxMessage
from procedures import selectors as procedure_selectors
from procedures.models import ProcessStep, RequiredDocument, TimeLimit
from procedures.schema import ProcedureData
from procedures.services import procedure_to_data, procedure_update
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    act,
    frozen,
    org,
    receive,
    version,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/dossiers/"


@pytest.fixture(autouse=True)
def fresh_plans():
    procedure_selectors.forget_version_plans()
    yield
    procedure_selectors.forget_version_plans()


def clerk_client(org) -> APIClient:
    client = APIClient()
    client.force_authenticate(org.clerk)
    return client


def body(version, **applicant) -> dict:
    return {
        "procedure": version.procedure.code, "channel": "in_person",
        "applicant": {**APPLICANT, **applicant},
    }


def test_a_reception_through_the_api_makes_five_statements(org, version, frozen, monkeypatch):
    from motcua import calendar

    # The calendar asks its change stamp at most every 2 s of real time: hold that clock still
    # so that a slow machine does not add the stamp's read to the count.
    still = calendar._monotonic()
    monkeypatch.setattr(calendar, "_monotonic", lambda: still)
    client = clerk_client(org)
    for _ in range(2):  # the first puts the version in use, the second keeps its plan
        assert client.post(LIST, body(version), format="json").status_code == 201
    permissions.forget(org.clerk)  # the roles are read again, as in a new request
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(LIST, body(version), format="json")
    assert response.status_code == 201, response.content
    statements = [
        q["sql"] for q in ctx.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))  # the test's transaction
    ]
    # reads: version, staff roles, units; writes: the counter with every id reserved, then
    # the steps, the dossier, its checklist, the event and its messages in one batch;
    # nothing read again from the catalogue, the dossier never updated.
    assert len(statements) == 5, "\n".join(statements)
    # The batch is one statement, prepared by an earlier reception of the same shape.
    name = re.match(r"EXECUTE (motcua_batch_\w+)\(", statements[-1]).group(1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [name])
        batch = cursor.fetchone()[0]
    for table in ("dossiers_dossierstep", "dossiers_dossier", "dossiers_dossierdocument",
                  "dossiers_dossierevent", "motcua_outboxmessage"):
        assert f'INSERT INTO "{table}"' in batch, table
    assert not [s for s in statements if s.startswith("UPDATE")]
    for table in ("procedures_requireddocument", "procedures_processstep", "procedures_timelimit"):
        assert not [s for s in statements if f'FROM "{table}"' in s], table


def test_the_dossier_is_inserted_once_with_its_reception_step_current(org, version, frozen):
    dossier = receive(org, version)
    stored = Dossier.objects.get(pk=dossier.pk)
    first = DossierStep.objects.filter(dossier=stored).order_by("position").first()
    assert stored.current_step_id == first.pk and first.role == "clerk"
    assert stored.current_unit_id == first.unit_id and stored.current_role == "clerk"
    assert stored.current_handler_id is None and first.handler_id == org.clerk.pk
    assert DossierStep.objects.filter(dossier=stored).count() == 5
    event = DossierEvent.objects.get(dossier=stored)
    assert event.step_id == first.pk and event.transition == "receive"
    assert set(OutboxMessage.objects.filter(event=event).values_list("channel", flat=True)) == {
        "portal", "sms", "email",
    }


def test_receipt_data_is_what_the_receipt_serializer_says(org, version, frozen):
    dossier = receive(org, version)
    assert receipt_data(dossier) == DossierReceiptSerializer(dossier).data
    started = act(Dossier.objects.get(pk=dossier.pk), "start", org.clerk)
    started = Dossier.objects.select_related(
        "procedure_version__procedure", "agency", "current_unit", "current_handler"
    ).get(pk=started.pk)
    assert receipt_data(started) == DossierReceiptSerializer(started).data


def test_the_api_answer_is_the_receipt_serializers(org, version, frozen):
    response = clerk_client(org).post(LIST, body(version), format="json")
    dossier = Dossier.objects.get(code=response.json()["code"])
    assert response.json() == DossierReceiptSerializer(dossier).data


def test_a_version_not_yet_in_use_is_read_again_at_every_reception(org, version, frozen):
    plan = procedure_selectors.procedure_version_plan(version=version)
    assert [d.name for d in plan.documents][0] == "Đơn đề nghị cấp phép"
    assert version.pk not in procedure_selectors._PLANS
    # Not in use yet: an edit in place is allowed, and the next reading sees it.
    RequiredDocument.objects.filter(version=version, position=1).update(name="Đơn mới")
    again = procedure_selectors.procedure_version_plan(version=version)
    assert again.documents[0].name == "Đơn mới"


def test_a_version_in_use_is_read_once_and_kept(org, version, frozen):
    receive(org, version)
    plan = procedure_selectors.procedure_version_plan(version=version)
    assert procedure_selectors._PLANS[version.pk] is plan
    with CaptureQueriesContext(connection) as ctx:
        assert procedure_selectors.procedure_version_plan(version=version) is plan
    assert len(ctx.captured_queries) == 0
    assert [s.unit_code for s in plan.steps] == ["MC", "CM", "CM", "LD", "MC"]
    assert plan.time_limit(version, "in_person") == (Decimal(5), "working_days")


def test_an_edit_of_a_version_in_use_makes_a_new_version_and_receptions_follow_it(
    org, version, frozen
):
    receive(org, version)
    procedure_selectors.procedure_version_plan(version=version)  # kept
    data: ProcedureData = procedure_to_data(version)
    data.documents = data.documents[:1]
    data.online_level = "partial"
    new = procedure_update(procedure=version.procedure, data=data, actor=org.admin)
    assert new.pk != version.pk
    dossier = receive(org, new)
    assert dossier.procedure_version_id == new.pk
    assert dossier.documents.count() == 1
    assert procedure_selectors.procedure_version_plan(version=version).documents[1].name == (
        "Bản sao giấy tờ pháp lý"
    )


def test_a_part_written_directly_drops_the_kept_plan(org, version, frozen):
    receive(org, version)
    procedure_selectors.procedure_version_plan(version=version)
    TimeLimit.objects.create(version=version, channel="post", amount=Decimal(7), unit="calendar_days")
    assert version.pk not in procedure_selectors._PLANS
    plan = procedure_selectors.procedure_version_plan(version=version)
    assert plan.time_limit(version, "post") == (Decimal(7), "calendar_days")
    step = ProcessStep.objects.filter(version=version).first()
    step.name = "Tiếp nhận"
    step.save()
    assert version.pk not in procedure_selectors._PLANS


def test_a_closed_unit_stops_receptions_even_with_the_plan_kept(org, version, frozen):
    from motcua.errors import ValidationError

    receive(org, version)
    procedure_selectors.procedure_version_plan(version=version)
    org.units_a["CM"].is_active = False
    org.units_a["CM"].save()
    with pytest.raises(ValidationError) as error:
        receive(org, version)
    assert error.value.code == "process_misconfigured"


def test_the_duplicate_foreign_key_indexes_are_gone_and_their_composites_stay():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename IN "
            "('dossiers_dossier', 'dossiers_dossierstep', 'dossiers_dossierevent')"
        )
        names = {row[0] for row in cursor.fetchall()}
    for gone in ("dossiers_dossier_agency_id", "dossiers_dossier_current_unit_id",
                 "dossiers_dossier_procedure_version_id", "dossiers_dossierstep_dossier_id",
                 "dossiers_dossierstep_unit_id", "dossiers_dossierevent_dossier_id"):
        assert not [n for n in names if n.startswith(gone + "_")], gone
    assert {"dossier_agency_queue_idx", "dossier_queue_idx", "dossier_version_state_idx",
            "dossier_step_unique", "dossier_step_unit_idx", "dossier_event_dossier_idx"} <= names


_GOOD = {"procedure": " 1.000656 ", "applicant": {"name": "Nguyễn Văn An", "id_number": "089085000123",
                                                   "phone": "0912345678"}}
RECEPTION_BODIES = [
    _GOOD,
    {**_GOOD, "channel": "post", "agency": " 000.20.02.H01 "},
    {**_GOOD, "agency": "", "extra": [1, 2]},
    {**_GOOD, "applicant": {**_GOOD["applicant"], "id_type": "passport", "email": "a@b.vn",
                            "address": "  12 Lê Lợi  ", "unknown": 5}},
    {**_GOOD, "documents": []},
    {**_GOOD, "documents": [{"required_document": 3}, {"name": "Bản sao", "received": False,
                                                       "originals": 0, "copies": 100}]},
    # Everything below is left to the serializer (the fast path says None).
    {**_GOOD, "procedure": "   "},
    {**_GOOD, "procedure": 12},
    {**_GOOD, "procedure": "a\x00b"},
    {**_GOOD, "procedure": "a\ud800b"},
    {**_GOOD, "channel": "fax"},
    {**_GOOD, "channel": None},
    {**_GOOD, "agency": None},
    {**_GOOD, "applicant": "Nguyễn Văn An"},
    {**_GOOD, "applicant": {"name": "An", "phone": "0912345678"}},
    {**_GOOD, "applicant": {**_GOOD["applicant"], "phone": 912345678}},
    {**_GOOD, "applicant": {**_GOOD["applicant"], "id_type": "cmnd"}},
    {**_GOOD, "documents": {"required_document": 1}},
    {**_GOOD, "documents": [{"required_document": "3"}]},
    {**_GOOD, "documents": [{"required_document": True}]},
    {**_GOOD, "documents": [{"originals": 101}]},
    {**_GOOD, "documents": [{"copies": -1}]},
    {**_GOOD, "documents": [{"received": "yes"}]},
    {**_GOOD, "documents": [{"required_document": 10**40}]},
    {**_GOOD, "documents": ["giấy khai sinh"]},
    [_GOOD],
    "procedure",
]


@pytest.mark.parametrize("body", RECEPTION_BODIES)
def test_the_fast_reception_input_is_the_serializers_or_leaves_it_to_the_serializer(body):
    """``reception_input`` answers exactly what ``DossierCreateSerializer`` validates, or None
    (and the serializer then decides, with its own errors)."""
    from dossiers.api.serializers import DossierCreateSerializer, reception_input

    fast = reception_input(body)
    serializer = DossierCreateSerializer(data=body)
    valid = serializer.is_valid()
    if fast is not None:
        assert valid, serializer.errors
        plain = {k: (dict(v) if k == "applicant" else [dict(d) for d in v]
                     if k == "documents" else v) for k, v in serializer.validated_data.items()}
        assert fast == plain
    assert (fast is not None) == (RECEPTION_BODIES.index(body) < 6)


def test_a_reception_body_the_fast_path_refuses_gets_the_serializers_errors(org, version, frozen):
    client = APIClient()
    client.force_authenticate(org.clerk)
    body = {"procedure": version.procedure.code, "channel": "fax",
            "applicant": {"name": "An", "id_number": "089085000123", "phone": "0912345678"}}
    response = client.post(LIST, body, format="json")
    assert response.status_code == 400
    assert "channel" in response.json()["errors"]
    assert not Dossier.objects.exists()


def test_a_statement_is_prepared_once_per_session_and_survives_a_rollback():
    from django.db import connections, transaction

    from motcua.db import execute_prepared

    def run(conn, value):
        with CaptureQueriesContext(conn) as ctx, conn.cursor() as cursor:
            execute_prepared(cursor, "motcua_test_plus_one", "SELECT %s::int + 1", [value])
            answer = cursor.fetchone()[0]
        return answer, [q["sql"].split(" ")[0] for q in ctx.captured_queries]

    assert run(connection, 1) == (2, ["PREPARE", "EXECUTE"])
    with transaction.atomic():
        assert run(connection, 2) == (3, ["EXECUTE"])
        transaction.set_rollback(True)
    assert run(connection, 3) == (4, ["EXECUTE"])
    other = connections.create_connection("default")  # another session: prepares its own
    try:
        assert run(other, 4) == (5, ["PREPARE", "EXECUTE"])
        assert run(other, 5) == (6, ["EXECUTE"])
    finally:
        other.close()


def test_the_receptions_look_ups_are_prepared_statements(org, version, frozen):
    client = APIClient()
    client.force_authenticate(org.clerk)
    body = {"procedure": version.procedure.code,
            "applicant": {"name": "An", "id_number": "089085000123", "phone": "0912345678"}}
    assert client.post(LIST, body, format="json").status_code == 201
    with CaptureQueriesContext(connection) as ctx:
        assert client.post(LIST, body, format="json").status_code == 201
    executed = [q["sql"] for q in ctx.captured_queries]
    assert not [sql for sql in executed if sql.startswith("PREPARE")]
    assert {sql.split("(")[0] for sql in executed if sql.startswith("EXECUTE")} >= {
        "EXECUTE motcua_reception_version", "EXECUTE motcua_reception_units",
    }
