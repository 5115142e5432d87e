"""The Celery app. Broker: Redis when REDIS_URL is set, else the embedded file-system broker."""

import logging
import os
import time

from celery import Celery
from celery.signals import (
    beat_init,
    before_task_publish,
    setup_logging,
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "motcua.settings")

app = Celery("motcua")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender, **kwargs):
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


@before_task_publish.connect(sender="motcua.heartbeat")
def _stamp_beat(**kwargs):
    # Only beat publishes the heartbeat, so publishing it is beat's own sign of life.
    from django.utils import timezone

    from motcua.models import Heartbeat

    Heartbeat.objects.update_or_create(name="beat", defaults={"at": timezone.now()})


@beat_init.connect
def _first_heartbeat(sender=None, **kwargs):
    # Say "alive" at start-up rather than a full interval later.
    app.send_task("motcua.heartbeat")


# Task logs (docs/operations.md "Logs"): the request id travels in the message headers, and every
# task run ends with one line on logger "motcua.task" saying how it went.
task_logger = logging.getLogger("motcua.task")
REQUEST_ID_HEADER = "request_id"
# Runs in progress by task id; a list, because an eager retry runs again inside the first run.
_running: dict[str, list[dict]] = {}


@setup_logging.connect
def _keep_django_logging(**kwargs):
    # Connected, so Celery leaves the handlers alone: the worker and beat log through the
    # LOGGING setting (JSON, request ids, masking), which django.setup() applies in them too.
    pass


@before_task_publish.connect
def _carry_request_id(headers=None, **kwargs):
    from motcua.logging import current_request_id

    request_id = current_request_id()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def _incoming_request_id(task) -> str | None:
    from motcua.logging import SANE_REQUEST_ID

    request = task.request
    value = getattr(request, REQUEST_ID_HEADER, None) or (request.headers or {}).get(REQUEST_ID_HEADER)
    if isinstance(value, str) and SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


@task_prerun.connect
def _task_started(task_id=None, task=None, **kwargs):
    from motcua.logging import bind_request_id, current_request_id

    # The id of the request that enqueued the task; a task run directly inside a request keeps
    # that request's; one started by beat is known by its own task id.
    request_id = _incoming_request_id(task) or current_request_id() or task_id
    token = bind_request_id(request_id)
    _running.setdefault(task_id, []).append({"started": time.perf_counter(), "token": token})


def _current_run(task_id) -> dict | None:
    runs = _running.get(task_id)
    return runs[-1] if runs else None


@task_retry.connect
def _task_retried(sender=None, request=None, reason=None, **kwargs):
    entry = _current_run(getattr(request, "id", None))
    if entry is not None:
        entry["exception"] = type(getattr(reason, "exc", None) or reason).__name__


@task_failure.connect
def _task_failed(task_id=None, exception=None, **kwargs):
    entry = _current_run(task_id)
    if entry is not None:
        entry["exception"] = type(exception).__name__


@task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **kwargs):
    from motcua.logging import unbind_request_id

    runs = _running.get(task_id)
    if not runs:
        return
    entry = runs.pop()
    if not runs:
        del _running[task_id]
    try:
        runtime_ms = round((time.perf_counter() - entry["started"]) * 1000, 1)
        exception = entry.get("exception")
        level = {"FAILURE": logging.ERROR, "RETRY": logging.WARNING}.get(state, logging.INFO)
        message = "task %s %s %s in %.1fms"
        args = [task.name, task_id, state, runtime_ms]
        if exception:
            message += " (%s)"
            args.append(exception)
        task_logger.log(level, message, *args, extra={
            "task_name": task.name, "task_id": task_id, "state": state,
            "runtime_ms": runtime_ms, "retries": task.request.retries or 0,
            "exception": exception,
        })
    finally:
        unbind_request_id(entry["token"])
