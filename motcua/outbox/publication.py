"""Publishing committed work to the workers, one task message per short window per process.

A dossier event's messages are in the outbox when its transaction commits; what is left is to
tell a worker to send them now. One task message per event cost a reception about a
millisecond of CPU in the web process (a Redis round trip, the message's serialisation):
about a tenth of the whole request (docs/dossier-lifecycle.md, "Reception performance").
:class:`Coalescer` gathers what the process commits during ``MOTCUA_PUBLISH_WINDOW`` seconds
(0.25 by default) and sends it as one message: at a busy desk dozens of events share one
message, at a quiet one each event waits a quarter of a second.

Nothing here can lose a message: the rows are committed before they are gathered. If the
process dies inside a window (killed, out of memory), the beat's ``motcua.deliver_outbox``
sends them within ``MOTCUA_OUTBOX_SWEEP_SECONDS`` (a minute). A normal exit waits for the
window's timer (a non-daemon thread), so a restarting web worker still sends what it holds.

At once, without a window:
- with ``task_always_eager`` (the tests' and the PDF samples' inline tasks);
- inside a Celery task (a worker's pool process may end with ``os._exit``, which would not
  wait for the timer);
- with ``MOTCUA_PUBLISH_WINDOW = 0``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from django.conf import settings

logger = logging.getLogger(__name__)


def publish_window() -> float:
    """Seconds to gather publications in this process (0: publish at once, see above)."""
    from celery import current_task

    from motcua.celery import app

    if app.conf.task_always_eager or current_task:
        return 0.0
    return float(getattr(settings, "MOTCUA_PUBLISH_WINDOW", 0.0))


class Coalescer:
    """Items added within one window go to ``send`` together, once, from a timer thread.

    ``send`` failing (the broker down) is logged, never raised: the outbox holds the messages
    and the beat sends them. A child process made by ``fork`` starts empty (what the parent
    holds is the parent's to send)."""

    def __init__(self, send: Callable[[list], None], *, name: str,
                 window: Callable[[], float] = publish_window):
        self._send = send
        self._window = window
        self.name = name
        self._forget()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._items: list = []
        self._timer: threading.Timer | None = None

    def add(self, item) -> None:
        window = self._window()
        if window <= 0:
            self._deliver([item])
            return
        with self._lock:
            self._items.append(item)
            if self._timer is None:
                timer = threading.Timer(window, self.flush)
                timer.name = f"{self.name}-publish"
                timer.daemon = False  # an exiting interpreter waits for it: nothing left behind
                self._timer = timer
                timer.start()

    def flush(self) -> None:
        """Send what was gathered now (the timer calls it; tests and shutdown may too)."""
        with self._lock:
            items, self._items = self._items, []
            timer, self._timer = self._timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
            timer.join(1.0)
        if items:
            self._deliver(items)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._items)

    def _deliver(self, items: list) -> None:
        try:
            self._send(items)
        except Exception:
            # A broker outage must not turn a saved write into an error: the outbox has the
            # messages, and the every-minute delivery task sends them once the broker is back.
            logger.exception("Could not publish %s (%s items)", self.name, len(items))
