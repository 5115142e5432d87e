"""The mixed load of bench/mixed_load.py: clerks receiving, officers and leaders working their
queues, citizens tracking (issue "scale").

Run by bench/mixed_load.py, which prepares the data and passes it in the file named by
``MOTCUA_LOAD_DATA`` (JSON: the staff's tokens and session cookies, each clerk's reception
bodies, code/phone pairs for the citizens, the think-time scale). Every request's time is kept
in memory and written at the end to ``MOTCUA_LOAD_SAMPLES`` (JSON lines), from which the runner
computes exact percentiles per action (locust's own are rounded).

Think times (seconds between one action's end and the next's start, scaled by ``think``;
``--think 0.5`` in the runner halves them, i.e. doubles the request rate):

- clerk (60): a reception every 30–60 s, as at a real desk (checking the papers takes that
  long), now and then the desk page;
- officer and leader (200): every 10–30 s one of: the queue page, its htmx refresh (page 2),
  a dossier's page, or an action on a dossier of the queue (the dossier through the API, then
  the first of start / forward / submit_for_approval / approve it offers, with
  ``expected_version``);
- citizen (500): every 30–90 s a tracking look-up, three times in four through the API, once
  through the /tra-cuu/ page (GET the form, POST code + phone with the CSRF token).

Together about 24 requests/s: ~1.3 from the clerks, ~12 from the officers and leaders, ~10
from the citizens. The province's real average is far lower (3,000,000 dossiers a year is ~0.4
receptions/s over the office hours); these are 760 people all at work at once.

An action's 409 ``concurrent_change`` or 400 ``transition_not_allowed`` is what the system
must answer when two people act on one dossier at once: it is counted apart ("conflicts"), not
as an error; every other status outside 2xx is an error.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time

from locust import HttpUser, events, task

DATA_ENV = "MOTCUA_LOAD_DATA"
SAMPLES_ENV = "MOTCUA_LOAD_SAMPLES"
HTMX = {"HX-Request": "true", "HX-Target": "dossier-results"}
ACTIONS = ("start", "forward", "submit_for_approval", "approve")
RESULT_TEXT = "Đủ điều kiện giải quyết theo quy định."
CODE_LINK = re.compile(
    r'href="/staff/dossiers/((?:[0-9]{3}\.[0-9A-Za-z.]+-[0-9]{6}-[0-9]+)|(?:TT-[0-9A-Za-z-]+))/"'
)
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

_data: dict | None = None
_lock = threading.Lock()
_samples: list[tuple[float, str, float, int, bool]] = []  # (at, name, ms, status, ok)
_conflicts: dict[str, int] = {}
_transitions: dict[str, int] = {}
_cursor: dict[str, int] = {}
_spawned: list[float] = []


def data() -> dict:
    """The runner's data file, read once (lazily: importing this file needs none)."""
    global _data
    if _data is None:
        path = os.environ.get(DATA_ENV)
        if not path:
            raise RuntimeError(f"{DATA_ENV} is not set: run bench/mixed_load.py")
        with open(path, encoding="utf-8") as handle:
            _data = json.load(handle)
    return _data


def next_account(kind: str) -> dict:
    """Each user of a kind takes the next account of that kind (round-robin)."""
    accounts = data()[kind]
    with _lock:
        i = _cursor.get(kind, 0)
        _cursor[kind] = i + 1
    return accounts[i % len(accounts)]


def think(low: float, high: float):
    """``between(low, high)`` scaled by the data file's ``think`` factor (read at each wait,
    so that importing this file needs no data)."""

    def wait(user) -> float:
        return random.uniform(low, high) * float(data().get("think", 1.0))

    wait.low = low
    return wait


def stagger(user) -> None:
    """Before a user's first action, a pause of up to the shortest think time: people do not
    all click in the same second the load starts (a burst no office ever sees)."""
    time.sleep(random.uniform(0, user.wait_time.low * float(data().get("think", 1.0))))


def codes_in(html: str) -> list[str]:
    """The dossier codes a staff list page links to."""
    return list(dict.fromkeys(CODE_LINK.findall(html)))


def is_conflict(status: int, body: bytes) -> bool:
    """Two people acting on one dossier at once: the right answers, not failures."""
    if status == 409:
        return True
    if status == 400:
        try:
            return json.loads(body).get("code") == "transition_not_allowed"
        except (ValueError, AttributeError):
            return False
    return False


def count(counter: dict[str, int], key: str) -> None:
    with _lock:
        counter[key] = counter.get(key, 0) + 1


@events.request.add_listener
def _keep(request_type, name, response_time, response_length, response=None, exception=None,
          **kwargs):
    status = getattr(response, "status_code", 0) or 0
    _samples.append((time.time(), name, float(response_time), int(status), exception is None))


@events.spawning_complete.add_listener
def _all_started(user_count, **kwargs):
    _spawned.append(time.time())


@events.test_stop.add_listener
def _write(environment, **kwargs):
    path = os.environ.get(SAMPLES_ENV)
    if not path:
        return
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"conflicts": _conflicts, "transitions": _transitions,
                                 "spawned_at": _spawned[0] if _spawned else None}) + "\n")
        for sample in _samples:
            handle.write(json.dumps(sample) + "\n")


class StaffUser(HttpUser):
    """Logged in by the session the runner wrote (staff pages) and a token (the API). Staff
    pages are not followed through redirects: a lost session fails instead of measuring the
    login page."""

    abstract = True
    kind = ""

    def on_start(self) -> None:
        stagger(self)
        self.account = next_account(self.kind)
        self.client.cookies.set("sessionid", self.account["session"])
        self.api = {"Authorization": f"Token {self.account['token']}"}
        self.codes: list[str] = []

    def check(self, response, *, expect=(200,)) -> bool:
        if response.status_code in expect:
            response.success()
            return True
        response.failure(f"{response.status_code}: {response.text[:200]}")
        return False


class Clerk(StaffUser):
    """A reception clerk: receives dossiers through the API, sometimes opens the desk page."""

    weight = 60
    kind = "clerks"
    wait_time = think(30, 60)

    @task(6)
    def receive(self) -> None:
        body = random.choice(self.account["bodies"])
        with self.client.post("/api/v1/dossiers/", json=body, headers=self.api,
                              name="clerk: receive (API)", catch_response=True) as response:
            if self.check(response, expect=(201,)):
                self.codes.append(response.json()["code"])

    @task(1)
    def desk(self) -> None:
        with self.client.get("/staff/dossiers/tiep-nhan/", name="clerk: desk page",
                             allow_redirects=False, catch_response=True) as response:
            self.check(response)


class Officer(StaffUser):
    """An officer or a leader: the queue page, its htmx refresh, a dossier's page, an action."""

    weight = 200
    kind = "officers"
    wait_time = think(10, 30)

    @task(4)
    def queue(self) -> None:
        with self.client.get("/staff/dossiers/", name="officer: queue page",
                             allow_redirects=False, catch_response=True) as response:
            if self.check(response):
                self.codes = codes_in(response.text) or self.codes

    @task(2)
    def queue_refresh(self) -> None:
        with self.client.get("/staff/dossiers/?page=2", headers=HTMX,
                             name="officer: queue htmx (page 2)", allow_redirects=False,
                             catch_response=True) as response:
            self.check(response)

    @task(3)
    def dossier_page(self) -> None:
        if not self.codes:
            return self.queue()
        with self.client.get(f"/staff/dossiers/{random.choice(self.codes)}/",
                             name="officer: dossier page", allow_redirects=False,
                             catch_response=True) as response:
            self.check(response)

    @task(2)
    def act(self) -> None:
        if not self.codes:
            return self.queue()
        code = random.choice(self.codes)
        with self.client.get(f"/api/v1/dossiers/{code}/", headers=self.api,
                             name="officer: dossier (API)", catch_response=True) as response:
            if not self.check(response):
                return
            detail = response.json()
        offered = [name for name in ACTIONS if name in detail.get("available_transitions", [])]
        if not offered:
            self.codes.remove(code)  # someone else took it: look elsewhere next time
            return
        transition = offered[0]
        body = {"transition": transition, "expected_version": detail["version"]}
        if transition in ("submit_for_approval", "approve"):
            body["result_text"] = RESULT_TEXT
        with self.client.post(f"/api/v1/dossiers/{code}/transitions/", json=body,
                              headers=self.api, name="officer: act (API transition)",
                              catch_response=True) as response:
            if is_conflict(response.status_code, response.content):
                response.success()
                count(_conflicts, transition)
            elif self.check(response):
                count(_transitions, transition)


class Citizen(HttpUser):
    """A citizen tracking a dossier by code and phone, no account."""

    weight = 500
    wait_time = think(30, 90)

    def on_start(self) -> None:
        stagger(self)
        self.pairs = data()["citizens"]

    @task(3)
    def track_api(self) -> None:
        code, phone = random.choice(self.pairs)
        with self.client.get(f"/api/public/track/{code}/", params={"phone": phone},
                             name="citizen: track (API)", catch_response=True) as response:
            if response.status_code == 200:
                response.success()
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(1)
    def track_page(self) -> None:
        code, phone = random.choice(self.pairs)
        with self.client.get("/tra-cuu/", params={"ma": code}, name="citizen: track page (form)",
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
                return
            found = CSRF_INPUT.search(response.text)
            cookie = response.cookies.get("csrftoken") or self.client.cookies.get("csrftoken")
            if not found or not cookie:
                response.failure("no CSRF token in the form")
                return
            response.success()
        # Production marks the CSRF cookie Secure; over the bench's plain HTTP the client would
        # not send it back, so it is set again without the flag (the browser's case is HTTPS).
        self.client.cookies.clear()
        self.client.cookies.set("csrftoken", cookie)
        with self.client.post("/tra-cuu/", data={
            "csrfmiddlewaretoken": found.group(1), "code": code, "phone": phone,
        }, name="citizen: track page (answer)", catch_response=True) as response:
            if response.status_code == 200 and code in response.text:
                response.success()
            else:
                response.failure(f"{response.status_code}")
