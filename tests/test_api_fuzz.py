"""The API fuzzed from its own OpenAPI schema (issue 9): no 5xx anywhere.

Schemathesis loads ``/api/schema/`` (drf-spectacular) from the Django WSGI application
in-process and, for every operation, generates requests from the schema (a bounded number,
with a fixed seed: the same examples on every run). Each request goes out twice: as generated,
and with the path's ``code`` replaced by a real one (a dossier of the clerk's agency, a
procedure of the catalogue), so transitions, uploads and documents are fuzzed against objects
that exist rather than only against 404s.

Checks: no server error; where the status is one the schema documents, the body conforms to
the documented schema and content type.

Authenticated as a clerk (token) and as a leader (token); public operations are exercised by
both. Runs in about two minutes (``FUZZ_EXAMPLES`` per operation, fewer for the PDF ones).
"""

from __future__ import annotations

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from motcua.wsgi import application
from tests.dossier_factories import act, build_org, make_procedure, receive

pytestmark = pytest.mark.django_db

FUZZ_EXAMPLES = 15
NEGATIVE_EXAMPLES = 8
#: Operations whose every answer is a rendered PDF or spreadsheet: fewer examples.
SLOW_OPERATIONS = {"dossier_document", "dossier_apology_document"}
SLOW_EXAMPLES = 4
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
SEED = 20261206


@pytest.fixture
def wsgi_in_transaction():
    """The WSGI handler closes "old" connections around each request; inside the test's
    transaction that would close the test's own connection (Django's test client does the same
    disconnection)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, eager, wsgi_in_transaction):
    org = build_org()
    version = make_procedure(agency=org.a)
    in_progress = act(receive(org, version), "start", org.clerk)
    waiting = receive(org, version)
    for who, name in (("clerk", "start"), ("officer", "forward"), ("officer", "submit_for_approval")):
        waiting = act(waiting, name, getattr(org, who))
    return {
        "org": org, "procedure": version.procedure.code,
        "dossiers": [in_progress.code, waiting.code],
    }


@pytest.fixture
def eager():
    from motcua.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def load_schema():
    return schemathesis.openapi.from_wsgi("/api/schema/", application)


def real_code(case, world) -> str | None:
    if "code" not in (case.path_parameters or {}):
        return None
    path = case.operation.path
    if path.startswith("/api/v1/procedures/"):
        return world["procedure"]
    return world["dossiers"][len(str(case.path_parameters["code"])) % 2]


def fuzz(schema, headers: dict, world, *, negative: bool = False) -> list[str]:
    """Every operation, ``FUZZ_EXAMPLES`` cases each; ``negative``: cases that break the schema
    on purpose (wrong types, missing fields), checked for server errors only."""
    failures: list[str] = []
    mode = GenerationMode.NEGATIVE if negative else GenerationMode.POSITIVE
    checks = [not_a_server_error] if negative else CHECKS
    for result in schema.get_all_operations():
        operation = result.ok()
        slow = operation.definition.raw.get("operationId") in SLOW_OPERATIONS
        examples = SLOW_EXAMPLES if slow else NEGATIVE_EXAMPLES if negative else FUZZ_EXAMPLES

        @hypothesis.seed(SEED)
        @hypothesis.settings(
            max_examples=examples, deadline=None, derandomize=True, database=None,
            phases=[Phase.explicit, Phase.generate], print_blob=False,
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            for replace in (False, True):
                cache.clear()  # throttles would turn later examples into 429s
                if replace:
                    code = real_code(case, world)
                    if code is None:
                        return
                    case.path_parameters = {**case.path_parameters, "code": code}
                # Each call in a savepoint rolled back: a failing call (a broken transaction
                # after a database error) cannot turn every later call into a 500 as well, and
                # the real dossiers stay as they are for the next example.
                with transaction.atomic():
                    try:
                        case.call_and_validate(headers=headers, checks=checks)
                    finally:
                        transaction.set_rollback(True)

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            continue  # nothing invalid to say about an operation without input
        except (Exception, BaseExceptionGroup) as exc:  # collected, reported together below
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    return failures


@pytest.mark.parametrize("persona", ["clerk", "leader"])
def test_api_has_no_server_error(world, persona):
    user = getattr(world["org"], persona)
    token = Token.objects.create(user=user).key
    schema = load_schema()
    failures = fuzz(schema, {"Authorization": f"Token {token}"}, world)
    assert not failures, "\n\n".join(failures)


def test_api_has_no_server_error_on_invalid_input(world):
    """Inputs that break the schema (as a clerk: the widest write access) get a 4xx, never a
    5xx."""
    token = Token.objects.create(user=world["org"].clerk).key
    failures = fuzz(load_schema(), {"Authorization": f"Token {token}"}, world, negative=True)
    assert not failures, "\n\n".join(failures)


def test_schema_lists_every_api_operation(wsgi_in_transaction, db):
    """The fuzzing covers what the schema lists: every /api/ route must be in it."""
    schema = load_schema()
    paths = {op.ok().path for op in schema.get_all_operations()}
    for expected in ("/api/v1/dossiers/", "/api/v1/dossiers/{code}/transitions/",
                     "/api/v1/procedures/", "/api/v1/reports/summary/",
                     "/api/public/track/{code}/", "/api/public/ratings/", "/api/public/dossiers/"):
        assert expected in paths


# ---------------------------------------------------------------------------------------------
# What the fuzzing found, kept as plain regression tests (they run in milliseconds and do not
# depend on the generator finding the same input again)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("received_at", ["3500-08-03T02:10:35-20:34", "0001-01-01T00:00:00",
                                         "9999-12-31T23:59:59+14:00"])
def test_an_appointment_centuries_away_is_refused_not_failed(client, world, received_at):
    token = Token.objects.create(user=world["org"].clerk).key
    response = client.get(
        f"/api/v1/procedures/{world['procedure']}/appointment/", {"received_at": received_at},
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_received_at"


@pytest.mark.parametrize("sig", ["Giá trị", "\x00abc", "\ud800"])
def test_a_payment_answer_with_a_strange_signature_is_refused_not_failed(client, db, sig):
    body = {"ref": "PAYX", "amount": "1000", "status": "paid", "txn": "1", "sig": sig}
    cache.clear()
    response = client.post("/api/public/payments/callback/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "payment_refused"
