"""Production never "sends" into a demo: with MOTCUA_ENV=production the demo SMS gateway, the
demo portal adapter and a console/file/memory mail backend stop the start-up (settings,
"Operations" block), unless ALLOW_DEMO_ADAPTERS=1 says so on purpose. And SECRET_KEY rotation
with SECRET_KEY_FALLBACKS keeps staff logged in (docs/operations.md "Rotating secrets")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASE = {
    "MOTCUA_ENV": "production",
    "SECRET_KEY": "k" * 25 + "-production-adapters-test-" + "k" * 25,
    "DEBUG": "off",
    "ALLOWED_HOSTS": "motcua.example.gov.vn",
    "DATABASE_URL": "postgres://motcua@db:5432/motcua",
    "REDIS_URL": "redis://redis:6379/0",
}
REAL = {
    # Any dotted path the province wrote (settings do not import it): not one of the demos.
    "MOTCUA_SMS_BACKEND": "tinh_an_giang.sms.BrandnameGateway",
    "MOTCUA_PORTAL_ADAPTER": "motcua.integrations.portal.HttpPortalAdapter",
    "MOTCUA_PORTAL_URL": "https://dichvucong.example.gov.vn/api/dossiers",
    "MOTCUA_PORTAL_TOKEN": "t" * 40,
    "EMAIL_URL": "smtp+tls://motcua:secret@mail.example.gov.vn:587",
}


def check(**env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "EMAIL_URL",
                         "MOTCUA_SMS_BACKEND", "MOTCUA_PORTAL_ADAPTER", "ALLOW_DEMO_ADAPTERS")}
    full.update(BASE)
    full.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=full, capture_output=True, text=True, timeout=120,
    )


def test_production_refuses_the_demo_adapters_it_would_otherwise_default_to():
    result = check()
    assert result.returncode != 0
    assert "refuses demo adapters (MOTCUA_SMS_BACKEND, MOTCUA_PORTAL_ADAPTER, EMAIL_URL)" in result.stderr


@pytest.mark.parametrize(
    "override, named",
    [
        ({"MOTCUA_SMS_BACKEND": "motcua.integrations.sms.ConsoleSmsBackend"}, "MOTCUA_SMS_BACKEND"),
        ({"MOTCUA_PORTAL_ADAPTER": "motcua.integrations.portal.DemoPortalAdapter"}, "MOTCUA_PORTAL_ADAPTER"),
        ({"EMAIL_URL": "filemail:///tmp/mails"}, "EMAIL_URL"),
    ],
)
def test_one_demo_adapter_among_real_ones_is_refused_and_named(override, named):
    result = check(**{**REAL, **override})
    assert result.returncode != 0
    assert f"refuses demo adapters ({named})" in result.stderr


def test_the_http_portal_adapter_needs_its_address():
    result = check(**{**REAL, "MOTCUA_PORTAL_URL": ""})
    assert result.returncode != 0 and "needs MOTCUA_PORTAL_URL" in result.stderr


def test_real_adapters_start_cleanly():
    result = check(**REAL)
    assert result.returncode == 0, result.stdout + result.stderr


def test_demo_adapters_are_allowed_only_when_said_on_purpose():
    result = check(ALLOW_DEMO_ADAPTERS="1")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_short_fallback_key_is_refused():
    result = check(**REAL, SECRET_KEY_FALLBACKS="too-short")
    assert result.returncode != 0 and "SECRET_KEY_FALLBACKS" in result.stderr


def test_development_keeps_the_demo_adapters_by_default(settings):
    assert settings.MOTCUA_SMS_BACKEND == "motcua.integrations.sms.DemoSmsBackend"
    assert settings.ALLOW_DEMO_ADAPTERS is False


@pytest.mark.django_db
def test_rotating_the_secret_key_with_the_old_one_as_fallback_keeps_staff_logged_in(settings, django_user_model):
    from django.test import Client

    old, new = "o" * 60, "n" * 60
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = old, []
    user = django_user_model.objects.create_user("clerk_rotation", password="mot-cua-xoay-khoa-1")
    active, away = Client(), Client()
    for browser in (active, away):
        browser.force_login(user)
        assert browser.get("/staff/").status_code == 200

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = new, [old]
    # Still logged in; the session is re-signed with the new key as it is used.
    assert active.get("/staff/").status_code == 200

    settings.SECRET_KEY_FALLBACKS = []  # the old key retired after SESSION_COOKIE_AGE
    assert active.get("/staff/").status_code == 200
    # A session not used during the whole window was signed with the old key only: it ends.
    assert away.get("/staff/").status_code == 302
