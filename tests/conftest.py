import os

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run
# inside one unless told that this (test-only) thread is safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"


def pytest_configure(config):
    # Tests run tasks by calling them; what services enqueue goes to an in-memory broker
    # instead of piling up in var/broker (tests that need a real broker start their own).
    from motcua.celery import app

    app.conf.broker_url = "memory://"
    # Each write's publication goes out at once, as the tests check right after the write;
    # the web processes' window (motcua.outbox.publication) has its own tests
    # (tests/test_publication.py).
    from django.conf import settings

    settings.MOTCUA_PUBLISH_WINDOW = 0


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Each test run gets its own test database, so runs side by side never collide."""
    from django.conf import settings

    for alias in settings.DATABASES.values():
        test = alias.setdefault("TEST", {})
        base = test.get("NAME") or f"test_{alias['NAME']}"
        test["NAME"] = f"{base}_{os.getpid()}"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "vi-VN", "timezone_id": "Asia/Ho_Chi_Minh"}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 costs ~100 ms a user; tests create hundreds. Production keeps the default.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
