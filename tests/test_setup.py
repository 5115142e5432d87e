"""The project's own set-up: settings, deploy checks, health, login page."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent
PROD_ENV = {
    "MOTCUA_ENV": "production",
    "SECRET_KEY": "x" * 20 + "-production-test-key-" + "y" * 20,
    "DEBUG": "off",
    "ALLOWED_HOSTS": "motcua.example.gov.vn",
    "DATABASE_URL": "postgres://motcua@db:5432/motcua",
    "REDIS_URL": "redis://redis:6379/0",
    # No real SMS gateway or portal here: the demo adapters, said on purpose.
    "ALLOW_DEMO_ADAPTERS": "1",
}


def run_manage(*args, env):
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env,
        capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_is_clean_under_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_upload_limit_comes_from_the_environment():
    code = "from django.conf import settings; print('limit', settings.MOTCUA_UPLOAD_MAX_BYTES)"
    result = run_manage("shell", "-c", code, env={**PROD_ENV, "MOTCUA_UPLOAD_MAX_BYTES": "5242880"})
    assert result.returncode == 0, result.stderr
    assert "limit 5242880" in result.stdout
    result = run_manage("shell", "-c", code, env=PROD_ENV)
    assert "limit 10485760" in result.stdout


@pytest.mark.parametrize(
    "override, complaint",
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"DEBUG": "on"}, "DEBUG"),
        ({"DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "PostgreSQL"),
    ],
)
def test_production_refuses_insecure_configuration(override, complaint):
    result = run_manage("check", env={**PROD_ENV, **override})
    assert result.returncode != 0
    assert complaint in result.stderr


@pytest.mark.django_db
def test_health_reports_each_part_without_login(client):
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"database", "broker", "worker", "beat"}
    assert body["database"] == "ok"


@pytest.mark.django_db
def test_login_page_is_ours_and_vietnamese_by_default(client):
    response = client.get(reverse("login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Đăng nhập cán bộ" in html
    assert "django-admin" not in html


@pytest.mark.django_db
def test_english_is_available_through_the_language_switch(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/staff/login/"})
    html = client.get(reverse("login")).content.decode()
    assert 'lang="en"' in html


@pytest.mark.django_db
def test_wrong_password_gives_a_clear_vietnamese_message(client, django_user_model):
    django_user_model.objects.create_user("clerk9", password="dung-mat-khau-123")
    response = client.post(reverse("login"), {"username": "clerk9", "password": "sai"})
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in response.content.decode()


@pytest.mark.django_db
def test_staff_pages_require_login(client):
    response = client.get(reverse("staff-home"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_openapi_schema_builds_without_warnings_and_validates(tmp_path):
    out = tmp_path / "schema.yml"
    result = run_manage(
        "spectacular", "--fail-on-warn", "--validate", "--file", str(out),
        env={"DATABASE_URL": "sqlite:////tmp/motcua-schema-check.sqlite3"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/api/v1/procedures/" in out.read_text()


@pytest.mark.django_db
def test_vietnamese_stays_the_default_for_an_english_language_browser(client):
    html = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert 'lang="vi"' in html
    assert "Đăng nhập cán bộ" in html
