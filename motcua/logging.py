"""Structured logs: one JSON object a line in production, the request id on every record, no
personal data (docs/operations.md "Logs").

The request id lives in a context variable: ``motcua.middleware.RequestIdMiddleware`` sets it
for a web request, ``motcua.celery`` carries it in a task's message headers and sets it again
in the worker, so a reception and the SMS and portal deliveries it causes share one id.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar, Token
from datetime import datetime

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

_request_id: ContextVar[str | None] = ContextVar("motcua_request_id", default=None)

#: What an incoming X-Request-ID may look like to be kept (a proxy's or a client's id);
#: anything else is replaced, so a header cannot inject text or huge values into the logs.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

#: Phone numbers (10 digits), citizen ID numbers (12), old ID cards (9), tax codes (10):
#: any run of 9 to 12 digits standing alone. Longer runs (timestamps in ns, hashes) stay.
_PERSONAL_DIGITS = re.compile(r"(?<!\d)\d{9,12}(?!\d)")
MASK = "[đã ẩn]"

# Record attributes that are ours or the logging module's and never hold personal data;
# every other string on a record (the message, extra=... values) is masked.
_TRUSTED_ATTRIBUTES = frozenset({
    "name", "levelname", "pathname", "filename", "module", "funcName", "threadName",
    "processName", "taskName", "request_id", "task_id", "task_name", "state", "method",
    "asctime",
})


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The id to use for an incoming value: kept when it looks sane, a fresh one otherwise."""
    if value and SANE_REQUEST_ID.fullmatch(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    """The id of the request (or of the request that enqueued the task) being handled now."""
    return _request_id.get()


def bind_request_id(value: str | None) -> Token:
    """Make ``value`` the current request id; give the token back to ``unbind_request_id``."""
    return _request_id.set(value)


def unbind_request_id(token: Token) -> None:
    _request_id.reset(token)


def mask_personal_data(text: str) -> str:
    return _PERSONAL_DIGITS.sub(MASK, text)


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record ("-" outside a request or a task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _request_id.get() or "-"
        return True


class MaskPersonalDataFilter(logging.Filter):
    """Masks digit runs that may be a phone or ID number in the message and in string extras.

    The message is formatted here once (``msg % args``) so numbers passed as arguments are
    masked too. Tracebacks are masked by the formatters below.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, dict):
            try:
                message = record.getMessage()
            except Exception:  # a broken format string: log it as written rather than lose it
                message = str(record.msg)
            record.msg, record.args = mask_personal_data(message), None
        for key, value in list(vars(record).items()):
            if key in _TRUSTED_ATTRIBUTES or key in ("msg", "message"):
                continue
            if isinstance(value, str):
                setattr(record, key, mask_personal_data(value))
        return True


class PlainFormatter(logging.Formatter):
    """Text for development: time, level, logger, request id, message."""

    def __init__(self, fmt=None, datefmt=None, style="%", validate=True, **kwargs):
        super().__init__(
            fmt or "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            datefmt, style, validate, **kwargs,
        )

    def formatException(self, ei) -> str:
        return mask_personal_data(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return mask_personal_data(super().formatStack(stack_info))


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: time, level, logger, message, request_id, and any extras.

    The ``request`` extra Django's own loggers attach is left out: its text is the full URL,
    query string included.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("json_ensure_ascii", False)
        from pythonjsonlogger.core import RESERVED_ATTRS

        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request", "server_time", "taskName"])
        super().__init__(
            *args or ("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",), **kwargs
        )

    def formatTime(self, record, datefmt=None):
        # ISO 8601 with the offset: log collectors parse it without being told the zone.
        moment = datetime.fromtimestamp(record.created).astimezone()
        return moment.isoformat(timespec="milliseconds")

    def formatException(self, ei):
        return mask_personal_data(super().formatException(ei))

    def formatStack(self, stack_info):
        return mask_personal_data(super().formatStack(stack_info))
