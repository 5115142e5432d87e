"""Content Security Policy, cookies and CSRF (issue 9): every page carries the strict policy and
has nothing the policy would refuse (inline script, handler, style attribute); every POST form
has its CSRF token; production turns on secure cookies and HSTS."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from dossiers.models import Dossier
from motcua.models import Role, StaffRole, Unit
from tests.test_dossier_screens import NOTARY_CODE, at_officer, build_world, receive
from tests.test_setup import PROD_ENV, run_manage

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"

STRICT_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
#: Script types a browser does not run (data blocks: the admin's json_script, for instance).
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json", "text/template"}


def parse_policy(header: str) -> dict[str, list[str]]:
    policy = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            policy[words[0]] = words[1:]
    return policy


class InlineCodeFinder(HTMLParser):
    """Collects what a strict policy refuses: <script> with a body, <style>, style="…",
    on…= handlers, hx-on, javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False
        self._script_text = ""

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> handler")
            if name == "style":
                self.problems.append(f"<{tag} style=…> attribute")
            if name.startswith(("hx-on", "data-hx-on")):
                self.problems.append(f"<{tag} {name}> (htmx inline script)")
            if name in ("href", "src", "action", "formaction") and value and \
                    value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            kind = (names.get("type") or "").lower()
            self._in_script = "src" not in names and kind not in DATA_SCRIPT_TYPES
            self._script_text = ""

    def handle_data(self, data):
        if self._in_script:
            self._script_text += data

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script:
            if self._script_text.strip():
                self.problems.append(f"inline <script>: {self._script_text.strip()[:60]!r}")
            self._in_script = False


def inline_code(html: str) -> list[str]:
    finder = InlineCodeFinder()
    finder.feed(html)
    finder.close()
    return finder.problems


# ---------------------------------------------------------------------------------------------
# The parser itself: a check that finds nothing would pass every page.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("html", [
    "<script>alert(1)</script>",
    '<button onclick="go()">x</button>',
    '<span style="color:red">x</span>',
    "<style>p{}</style>",
    '<div hx-on:click="go()"></div>',
    '<a href="javascript:go()">x</a>',
])
def test_the_inline_code_finder_finds_each_kind(html):
    assert inline_code(html)


def test_the_inline_code_finder_lets_files_and_data_blocks_through():
    html = ('<script src="/static/js/x.js" defer></script>'
            '<script type="application/json" id="d">{"a": 1}</script>'
            '<a href="/x" data-print class="btn">x</a>')
    assert inline_code(html) == []


# ---------------------------------------------------------------------------------------------
# Pages as their users see them
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def world(db, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    world = build_world()
    world.catalogue_admin = get_user_model().objects.create_user("kiemsoat", password=None)
    StaffRole.objects.create(
        user=world.catalogue_admin, role=Role.CATALOGUE_ADMIN,
        unit=Unit.objects.get(agency__code="000.00.00.H01", code="VP"),
    )
    world.received = receive(world)
    world.at_officer = at_officer(world)
    return world


def pages(world) -> list[tuple[str, object, str]]:
    """(what, user or None, url) for the staff and public pages."""
    code = world.at_officer.code
    return [
        ("public home", None, reverse("public-home")),
        ("procedure page", None, reverse("public-procedure", args=[NOTARY_CODE])),
        ("online submission start", None, reverse("public-submit-start")),
        ("online submission form", None, reverse("public-submit", args=[NOTARY_CODE])),
        ("tracking", None, reverse("public-track")),
        ("rating", None, reverse("public-rate")),
        ("rating kiosk", None, reverse("public-rate-kiosk")),
        ("payment", None, reverse("public-pay")),
        ("public figures", None, reverse("public-figures")),
        ("staff login", None, reverse("login")),
        ("admin login", None, "/admin/login/"),
        ("staff home", world.clerk, reverse("staff-home")),
        ("desk", world.clerk, reverse("desk")),
        ("desk procedure panel (htmx)", world.clerk, reverse("desk-procedure", args=[NOTARY_CODE])),
        ("queue", world.officer, reverse("dossier-queue")),
        ("search", world.supervisor, reverse("dossier-search")),
        ("dossier page", world.officer, reverse("dossier-page", args=[code])),
        ("notices", world.officer, reverse("notice-list")),
        ("notice bell (htmx)", world.officer, reverse("notice-bell")),
        ("reports dashboard", world.supervisor, reverse("reports-dashboard")),
        ("reports drill-down", world.supervisor, reverse("reports-dossiers") + "?figure=received"),
        ("reports staff", world.supervisor, reverse("reports-staff")),
        ("reports register", world.supervisor, reverse("reports-register")),
        ("reports weekly", world.supervisor, reverse("reports-weekly")),
        ("ratings list", world.supervisor, reverse("staff-ratings")),
        ("catalogue list", world.catalogue_admin, reverse("catalogue-list")),
        ("catalogue detail", world.catalogue_admin, reverse("catalogue-detail", args=[NOTARY_CODE])),
        ("catalogue form", world.catalogue_admin, reverse("catalogue-edit", args=[NOTARY_CODE])),
        ("catalogue create", world.catalogue_admin, reverse("catalogue-create")),
        ("catalogue import", world.catalogue_admin, reverse("catalogue-import")),
        ("calendar", world.catalogue_admin, reverse("calendar-days")),
        ("calendar check", world.catalogue_admin, reverse("calendar-check")),
    ]


def test_every_page_carries_the_strict_policy_and_no_inline_code(world):
    problems = []
    for what, user, url in pages(world):
        client = Client()
        if user is not None:
            client.force_login(user)
        response = client.get(url)
        if response.status_code != 200:
            problems.append(f"{what} {url}: HTTP {response.status_code}")
            continue
        header = response.get("Content-Security-Policy")
        if header is None or parse_policy(header) != STRICT_POLICY:
            problems.append(f"{what} {url}: policy {header!r}")
        problems += [f"{what} {url}: {p}" for p in inline_code(response.content.decode())]
    assert problems == []


def test_the_pages_after_a_submission_and_a_payment_start_have_no_inline_code(world, client):
    from tests.test_public_submission import form_data, open_form

    token = open_form(client)
    response = client.post(reverse("public-submit", args=[NOTARY_CODE]), form_data(world, token))
    assert response.status_code == 302
    done = client.get(response["Location"])
    assert done.status_code == 200 and inline_code(done.content.decode()) == []
    provisional = Dossier.objects.get(provisional_code__isnull=False).provisional_code
    to_gateway = client.post(reverse("public-submit-pay", args=[provisional]))
    assert to_gateway.status_code == 302
    # The demo gateway is our own page: a form's redirect there stays within form-action 'self'.
    assert to_gateway["Location"].startswith("/")
    gateway = client.get(to_gateway["Location"])
    assert gateway.status_code == 200
    assert parse_policy(gateway["Content-Security-Policy"]) == STRICT_POLICY
    assert inline_code(gateway.content.decode()) == []


def test_admin_pages_carry_the_policy_and_no_inline_script(db, admin_client):
    for url in ("/admin/", "/admin/dossiers/dossier/", "/admin/motcua/calendarday/add/"):
        response = admin_client.get(url, follow=True)
        assert response.status_code == 200, url
        assert parse_policy(response["Content-Security-Policy"]) == STRICT_POLICY, url
        scripts = [p for p in inline_code(response.content.decode()) if "script" in p or "handler" in p]
        assert scripts == [], url


def test_the_api_docs_run_their_own_script_file_with_inline_styles_allowed(db, admin_client):
    response = admin_client.get(reverse("api-docs"))
    assert response.status_code == 200
    policy = parse_policy(response["Content-Security-Policy"])
    # Swagger UI sets style attributes from its script: that page alone allows inline styles;
    # scripts stay our own files (the split view serves its start-up script from a URL).
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert [p for p in inline_code(response.content.decode()) if "script" in p] == []


def test_payment_gateway_origin_is_a_form_target_when_configured(monkeypatch):
    result = run_manage(
        "shell", "-c",
        "from django.conf import settings; import json; "
        "print(json.dumps(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action']))",
        env={**PROD_ENV, "PAYMENT_GATEWAY": "motcua.integrations.payment.HttpPaymentGateway",
             "PAYMENT_GATEWAY_URL": "https://pay.example.vn/checkout?x=1",
             "PAYMENT_SECRET": "z" * 40},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["'self'", "https://pay.example.vn"]


# ---------------------------------------------------------------------------------------------
# Templates, read as files: what no page walk above happened to render.
# ---------------------------------------------------------------------------------------------

INLINE_IN_TEMPLATE = re.compile(
    r"""<script(?![^>]*\bsrc=)(?![^>]*type=["']application/(?:ld\+)?json)[^>]*>"""
    r"""|<style\b|\sstyle\s*=|\son[a-z]+\s*=|\shx-on|javascript:""",
    re.IGNORECASE,
)


def html_templates():
    for path in sorted(TEMPLATES.rglob("*.html")):
        if path.relative_to(TEMPLATES).parts[0] == "pdf":
            continue  # WeasyPrint renders these to PDF; no browser runs them
        yield path


def test_no_template_holds_inline_script_style_or_handler():
    found = [
        f"{path.relative_to(ROOT)}:{text[:match.start()].count(chr(10)) + 1}: {match.group(0)!r}"
        for path in html_templates()
        for text in [path.read_text()]
        for match in INLINE_IN_TEMPLATE.finditer(text)
    ]
    assert found == []


def test_every_script_and_style_sheet_a_template_links_exists():
    linked = {
        name for path in html_templates()
        for name in re.findall(r"""{%\s*static\s+['"]([^'"]+\.(?:js|css))['"]""", path.read_text())
    }
    assert "js/submit.js" in linked and "css/cspops.css" in linked
    missing = sorted(name for name in linked if not (ROOT / "static" / name).exists())
    assert missing == []


def test_htmx_injects_no_style_and_evaluates_nothing():
    head = (TEMPLATES / "base.html").read_text()
    meta = re.search(r"""<meta name="htmx-config" content='([^']+)'>""", head)
    assert meta, "base.html has no htmx-config meta"
    assert json.loads(meta.group(1)) == {
        "includeIndicatorStyles": False, "allowEval": False, "allowScriptTags": False,
    }
    # With allowEval off, a trigger filter (event[expression]) would silently never match.
    triggers = [
        f"{path.relative_to(ROOT)}: {value}" for path in html_templates()
        for value in re.findall(r'hx-trigger="([^"]*)"', path.read_text()) if "[" in value
    ]
    assert triggers == []


POST_FORM = re.compile(r"<form\b[^>]*\bmethod=[\"']?post[\"']?[^>]*>(.*?)</form>", re.I | re.S)


def test_every_post_form_in_the_templates_has_its_csrf_token():
    forms = [
        (path, body) for path in html_templates() for body in POST_FORM.findall(path.read_text())
    ]
    assert len(forms) >= 20  # the scan finds the forms at all
    missing = [str(path.relative_to(ROOT)) for path, body in forms if "{% csrf_token %}" not in body]
    assert missing == []


# ---------------------------------------------------------------------------------------------
# CSRF and cookies
# ---------------------------------------------------------------------------------------------


def test_a_staff_post_without_the_csrf_token_is_refused(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.officer)
    refused = client.post(reverse("notice-read-all"))
    assert refused.status_code == 403
    page = client.get(reverse("notice-list"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    accepted = client.post(reverse("notice-read-all"), {"csrfmiddlewaretoken": token})
    assert accepted.status_code in (200, 302)


def test_a_htmx_post_without_the_token_is_refused_too(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.catalogue_admin)
    response = client.post(reverse("calendar-days"), {"date": "2030-01-02", "kind": "off"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 403


def test_the_csrf_and_session_cookies_are_not_readable_by_scripts(client, db):
    response = client.get(reverse("login"))
    assert response.cookies["csrftoken"]["httponly"] is True


def test_production_sends_secure_cookies_hsts_and_json_logs():
    result = run_manage(
        "shell", "-c",
        "from django.conf import settings as s; import json; print(json.dumps(["
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.CSRF_COOKIE_HTTPONLY, "
        "s.SESSION_COOKIE_HTTPONLY, s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, "
        "s.LOG_FORMAT, s.LOGGING['handlers']['console']['formatter']]))",
        env=PROD_ENV,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == [True, True, True, True, 31536000, True, "json", "json"]
