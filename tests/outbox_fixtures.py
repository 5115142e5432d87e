"""Providers that record what they were asked (outside the database, like a real gateway) and
fail on demand, for the outbox, notification, portal and resilience tests.

``providers`` points ``MOTCUA_SMS_BACKEND`` and ``MOTCUA_PORTAL_ADAPTER`` at them::

    providers.sms.fail_next(ConnectionError("gateway down"))   # the next call raises
    providers.sms.calls                                         # every call, failed ones too
"""

from __future__ import annotations

import http.server
import json
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from motcua.integrations.portal import PortalAdapter
from motcua.integrations.sms import SmsBackend


class Recorder:
    """Records each call (before failing, as a real provider would have received it)."""

    def __init__(self, name: str):
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.calls: list[dict] = []
        self.failures: list[BaseException | None] = []
        self.before = None  # called with the kwargs before answering (e.g. a slow provider)

    def fail_next(self, *errors: BaseException | None) -> None:
        """Queue outcomes for the next calls: an exception raises it, None succeeds."""
        self.failures.extend(errors)

    def __call__(self, **kwargs) -> str:
        self.calls.append(kwargs)
        if self.before is not None:
            self.before(kwargs)
        if self.failures:
            error = self.failures.pop(0)
            if error is not None:
                raise error
        return f"{self.name}-{len(self.calls)}"

    @property
    def keys(self) -> list[str]:
        return [call["idempotency_key"] for call in self.calls]


SMS = Recorder("sms")
PORTAL = Recorder("portal")


class RecordingSmsBackend(SmsBackend):
    def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        return SMS(to=to, text=text, idempotency_key=idempotency_key)


class RecordingPortalAdapter(PortalAdapter):
    def publish(self, *, payload: dict, idempotency_key: str) -> str:
        return PORTAL(payload=payload, idempotency_key=idempotency_key)


@pytest.fixture
def providers(settings):
    settings.MOTCUA_SMS_BACKEND = "tests.outbox_fixtures.RecordingSmsBackend"
    settings.MOTCUA_PORTAL_ADAPTER = "tests.outbox_fixtures.RecordingPortalAdapter"
    SMS.reset()
    PORTAL.reset()
    yield SimpleNamespace(sms=SMS, portal=PORTAL)
    SMS.reset()
    PORTAL.reset()


def deliver(**kwargs):
    """Run the delivery as the beat's task would (``now`` may be given to reach retries)."""
    from motcua.outbox import outbox_deliver

    return outbox_deliver(**kwargs)


def later(**delta):
    return timezone.now() + timedelta(**delta)


# ---------------------------------------------------------------------------------------------
# A stand-in for the national portal: http.server on 127.0.0.1, a random port, in a thread
# ---------------------------------------------------------------------------------------------


class PortalServer:
    """Records every POST (headers and JSON); answers with the queued status codes, then 200."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length).decode("utf-8"))
                with server.lock:
                    server.requests.append({"headers": dict(self.headers), "json": body,
                                            "path": self.path})
                    status = server.statuses.pop(0) if server.statuses else 200
                answer = json.dumps(
                    {"id": f"portal-{body['event_id']}"} if status < 300 else {"error": "boom"}
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/dong-bo-ho-so"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def events(self) -> list[int]:
        return [r["json"]["event_id"] for r in self.requests]


@pytest.fixture
def portal_server(settings):
    with PortalServer() as server:
        settings.MOTCUA_PORTAL_ADAPTER = "motcua.integrations.portal.HttpPortalAdapter"
        settings.MOTCUA_PORTAL_URL = server.url
        settings.MOTCUA_PORTAL_TOKEN = "bi-mat-thu-nghiem"
        settings.MOTCUA_PORTAL_TIMEOUT = 5.0
        yield server
