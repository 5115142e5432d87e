"""Structured logs (issue 9): JSON lines, a request id on every line and in the response, one
access line per request, task outcomes carrying the id of the request that enqueued them, and
no phone or ID number in any line."""

from __future__ import annotations

import io
import json
import logging
import time
from contextlib import contextmanager

import pytest
from celery.contrib.testing.worker import start_worker
from django.urls import reverse

from motcua.celery import app
from motcua.logging import (
    MASK,
    JsonFormatter,
    MaskPersonalDataFilter,
    PlainFormatter,
    RequestIdFilter,
    bind_request_id,
    current_request_id,
    unbind_request_id,
)

QUEUE = "test-logging"


@contextmanager
def captured(formatter=None, logger=None):
    """The lines our console handler would write (same formatter and filters), as a list.
    By default from the root and from "django" (which does not propagate, see LOGGING)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(MaskPersonalDataFilter())
    targets = [logging.getLogger(name) for name in ([logger] if logger else ["", "django"])]
    old_levels = [target.level for target in targets]
    for target in targets:
        target.addHandler(handler)
        target.setLevel(logging.DEBUG)
    lines: list = []
    try:
        yield lines
    finally:
        for target, level in zip(targets, old_levels, strict=True):
            target.removeHandler(handler)
            target.setLevel(level)
        lines.extend(line for line in stream.getvalue().splitlines() if line)


def records(lines) -> list[dict]:
    return [json.loads(line) for line in lines]


@contextmanager
def request_id(value):
    token = bind_request_id(value)
    try:
        yield
    finally:
        unbind_request_id(token)


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------


def test_a_request_gets_an_id_echoed_in_the_response_and_one_json_access_line(client, db):
    with captured() as lines:
        response = client.get(reverse("login"))
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32 and request_id.isalnum()
    access = [r for r in records(lines) if r["logger"] == "motcua.request"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == request_id
    assert (line["method"], line["path"], line["status"]) == ("GET", "/staff/login/", 200)
    assert line["user_id"] is None
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["level"] == "INFO" and "time" in line and line["message"].startswith("GET /staff/login/")
    assert response.wsgi_request.request_id == request_id


def test_each_request_gets_its_own_id_and_none_is_left_behind(client, db):
    first = client.get(reverse("login"))["X-Request-ID"]
    second = client.get(reverse("login"))["X-Request-ID"]
    assert first != second
    assert current_request_id() is None


def test_every_line_written_during_the_request_carries_its_id(client, django_user_model):
    user = django_user_model.objects.create_user("canbo", password=None)
    client.force_login(user)
    with captured() as lines:
        response = client.get(reverse("staff-home"), HTTP_X_REQUEST_ID="proxy-abc.123_x")
    lines = records(lines)
    assert response["X-Request-ID"] == "proxy-abc.123_x"
    assert lines and {line["request_id"] for line in lines} == {"proxy-abc.123_x"}
    access = next(line for line in lines if line["logger"] == "motcua.request")
    assert access["user_id"] == user.pk


@pytest.mark.parametrize("incoming", [
    "x" * 65, "has space", "semi;colon", "new\nline", "<script>", "ÿ-unicode", "",
])
def test_an_incoming_id_that_does_not_look_sane_is_replaced(client, db, incoming):
    response = client.get(reverse("login"), HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


def test_an_incoming_id_of_64_characters_is_kept(client, db):
    incoming = "a" * 64
    assert client.get(reverse("login"), HTTP_X_REQUEST_ID=incoming)["X-Request-ID"] == incoming


def test_a_server_error_is_logged_with_its_status(client, db, monkeypatch):
    from motcua import views

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "health_status", broken)
    client.raise_request_exception = False
    with captured() as lines:
        response = client.get("/health/", HTTP_X_REQUEST_ID="err-1")
    assert response.status_code == 500
    lines = records(lines)
    access = [line for line in lines if line["logger"] == "motcua.request"]
    assert [(a["status"], a["level"]) for a in access] == [(500, "WARNING")]
    # Django's own error line carries the id too, and not the request object's text.
    error = next(line for line in lines if line["logger"] == "django.request")
    assert error["request_id"] == "err-1" and "request" not in error
    assert "RuntimeError: boom" in error["exc_info"]


def test_health_probes_are_debug_lines(client, db):
    with captured() as lines:
        client.get("/health/")
    access = [r for r in records(lines) if r["logger"] == "motcua.request"]
    assert [a["level"] for a in access] == ["DEBUG"]


def test_development_logs_are_plain_text_with_the_request_id():
    with captured(PlainFormatter(), logger="motcua.tests") as lines, request_id("dev-1"):
        logging.getLogger("motcua.tests").info("hello %s", "world")
    assert len(lines) == 1
    assert lines[0].endswith("INFO motcua.tests [dev-1] hello world")


def test_settings_pick_the_format_from_log_format(settings):
    handler = settings.LOGGING["handlers"]["console"]
    assert handler["formatter"] == settings.LOG_FORMAT == "plain"  # development default
    assert handler["filters"] == ["request_id", "mask_personal_data"]
    assert settings.LOGGING["formatters"]["json"]["()"] == "motcua.logging.JsonFormatter"


# ---------------------------------------------------------------------------------------------
# No personal data
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, masked", [
    ("SMS to 0912345678 sent", f"SMS to {MASK} sent"),
    ("ID 089085000123 looked up", f"ID {MASK} looked up"),
    ("old card 123456789", f"old card {MASK}"),
    ("+84912345678", f"+{MASK}"),
    ("tax 0312345678-001", f"tax {MASK}-001"),
    # Not personal: dossier and procedure codes, short numbers, long runs (hashes, ns times).
    ("dossier 000.00.10.H01-251123-0007", "dossier 000.00.10.H01-251123-0007"),
    ("procedure 2.001035.000.00.00.H01", "procedure 2.001035.000.00.00.H01"),
    ("took 12345678 µs", "took 12345678 µs"),
    ("ts 1733550000123456", "ts 1733550000123456"),
])
def test_digit_runs_of_9_to_12_are_masked(text, masked):
    with captured(logger="motcua.tests") as lines:
        logging.getLogger("motcua.tests").info(text)
    assert records(lines)[0]["message"] == masked


def test_numbers_passed_as_arguments_extras_and_in_tracebacks_are_masked():
    log = logging.getLogger("motcua.tests")
    with captured(logger="motcua.tests") as lines:
        log.info("citizen %s phone %d", "089085000123", 912345678,
                 extra={"phone": "0912345678", "count": 3})
        try:
            raise ValueError("bad number 0987654321")
        except ValueError:
            log.exception("lookup failed for %s", "0987654321")
    first, second = records(lines)
    assert first["message"] == f"citizen {MASK} phone {MASK}"
    assert first["phone"] == MASK and first["count"] == 3
    assert second["message"] == f"lookup failed for {MASK}"
    assert "0987654321" not in second["exc_info"] and f"bad number {MASK}" in second["exc_info"]
    assert "0987654321" not in "\n".join(lines) and "0912345678" not in "\n".join(lines)


def test_a_phone_number_in_a_path_is_masked_in_the_access_line(client, db):
    with captured() as lines:
        client.get("/tra-cuu/0912345678/")
    access = next(r for r in records(lines) if r["logger"] == "motcua.request")
    assert access["path"] == f"/tra-cuu/{MASK}/"
    assert "0912345678" not in access["message"]


# ---------------------------------------------------------------------------------------------
# Celery tasks
# ---------------------------------------------------------------------------------------------


@app.task(name="tests.logging.echo", ignore_result=True)
def echo_task(value):
    logging.getLogger("tests.logging").info("echo %s", value)
    return value


@app.task(name="tests.logging.fail", ignore_result=True)
def failing_task():
    raise LookupError("no such dossier")


@app.task(name="tests.logging.retry", bind=True, ignore_result=True, max_retries=1,
          default_retry_delay=0)
def retrying_task(self):
    if self.request.retries == 0:
        raise self.retry(exc=ConnectionError("gateway down"), countdown=0)
    return "done"


def wait_for(lines_stream: io.StringIO, count: int, *, name: str, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [json.loads(line) for line in lines_stream.getvalue().splitlines()
                 if line and json.loads(line).get("task_name") == name]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {count} outcome line(s) of {name}: {lines_stream.getvalue()}")


@pytest.fixture(scope="module")
def embedded_worker():
    """An embedded worker (a thread, on the in-memory broker) for this module's tests, and the
    stream its JSON lines go to."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(MaskPersonalDataFilter())
    root = logging.getLogger()
    old_level = root.level
    # The in-memory broker drops a message sent to a queue nobody declared yet.
    with app.connection_for_write() as connection:
        app.amqp.queues[QUEUE].bind(connection.default_channel).declare()
    with start_worker(app, pool="solo", perform_ping_check=False, queues=[QUEUE],
                      shutdown_timeout=10):
        # After the start: the worker's start-up applies LOGGING afresh (django.setup()).
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield stream
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)


@pytest.fixture
def worker_log(embedded_worker):
    embedded_worker.seek(0)
    embedded_worker.truncate()
    return embedded_worker


def test_a_task_logs_its_outcome_with_the_id_of_the_request_that_enqueued_it(worker_log):
    with request_id("reception-42"):
        echo_task.apply_async(args=["xin chào"], queue=QUEUE)
    (outcome,) = wait_for(worker_log, 1, name="tests.logging.echo")
    assert outcome["logger"] == "motcua.task"
    assert outcome["request_id"] == "reception-42"
    assert outcome["state"] == "SUCCESS" and outcome["retries"] == 0
    assert outcome["task_id"] and outcome["runtime_ms"] >= 0 and outcome["level"] == "INFO"
    # The task's own lines share the id too.
    own = [json.loads(line) for line in worker_log.getvalue().splitlines()
           if line and json.loads(line)["logger"] == "tests.logging"]
    assert [(r["message"], r["request_id"]) for r in own] == [("echo xin chào", "reception-42")]


def test_a_task_enqueued_outside_a_request_is_known_by_its_own_id(worker_log):
    result = echo_task.apply_async(args=["beat"], queue=QUEUE)
    (outcome,) = wait_for(worker_log, 1, name="tests.logging.echo")
    assert outcome["request_id"] == result.id == outcome["task_id"]


def test_a_failing_task_logs_the_exception_class_without_personal_data(worker_log):
    with request_id("req-fail"):
        failing_task.apply_async(queue=QUEUE)
    (outcome,) = wait_for(worker_log, 1, name="tests.logging.fail")
    assert outcome["state"] == "FAILURE" and outcome["level"] == "ERROR"
    assert outcome["exception"] == "LookupError"
    assert outcome["request_id"] == "req-fail"


def test_a_retried_task_logs_the_retry_then_the_success(worker_log):
    with request_id("req-retry"):
        retrying_task.apply_async(queue=QUEUE)
    retry, success = wait_for(worker_log, 2, name="tests.logging.retry")
    assert (retry["state"], retry["level"], retry["exception"]) == ("RETRY", "WARNING", "ConnectionError")
    assert (success["state"], success["retries"]) == ("SUCCESS", 1)
    # The retry is a new message: the id still travels with it.
    assert retry["request_id"] == success["request_id"] == "req-retry"


def test_a_task_run_inside_a_request_keeps_the_requests_id():
    with captured(logger="motcua.task") as lines, request_id("req-eager"):
        echo_task.apply(args=["eager"])
    (outcome,) = records(lines)
    assert (outcome["state"], outcome["request_id"]) == ("SUCCESS", "req-eager")


def test_the_request_id_travels_in_the_message_headers():
    from motcua.celery import _carry_request_id

    headers: dict = {}
    with request_id("req-7"):
        _carry_request_id(headers=headers)
    assert headers == {"request_id": "req-7"}
    untouched: dict = {}
    _carry_request_id(headers=untouched)
    assert untouched == {}


def test_an_eager_retry_logs_both_runs_and_leaves_no_id_behind():
    with captured(logger="motcua.task") as lines:
        retrying_task.apply()
    assert [r["state"] for r in records(lines)] == ["RETRY", "SUCCESS"]
    assert current_request_id() is None
