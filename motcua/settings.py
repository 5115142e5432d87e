"""The one settings module. Everything that differs between machines comes from the environment.

``MOTCUA_ENV=production`` refuses to start with an insecure configuration (no ``SECRET_KEY``,
``DEBUG`` on, or SQLite).
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
MOTCUA_ENV = env.str("MOTCUA_ENV", default="development")
PRODUCTION = MOTCUA_ENV == "production"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if not SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("MOTCUA_ENV=production needs SECRET_KEY (50+ characters).")
    if DEBUG:
        raise ImproperlyConfigured("MOTCUA_ENV=production refuses DEBUG=on.")
else:
    # Only for development and tests; production refuses to start without its own key.
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-not-for-production")

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "simple_history",
    "motcua",
    "procedures",
    "dossiers",
    "ratings",
    "reports",
    "payments",
    "audit",
]

MIDDLEWARE = [
    # First: every log line of the request carries its id (motcua.middleware.RequestIdMiddleware).
    "motcua.middleware.RequestIdMiddleware",
    # Before anything reads the session or the database: a NUL byte gets a 400, not a 500.
    "motcua.middleware.RefuseNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "motcua.middleware.ChosenLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a login that axes refused into our lock-out page (motcua.login_security).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "motcua.urls"
WSGI_APPLICATION = "motcua.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "motcua.context_processors.staff",
            ],
        },
    },
]

# Database: PostgreSQL in production and tests; SQLite under var/ only for the zero-setup demo.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'motcua.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # No JIT compilation: this is a database of short statements, and a deep queue page or a
    # report's estimate passes jit_above_cost, then spends 80–200 ms compiling a statement
    # that runs in 30 (docs/queue-performance.md, "Round 3").
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
elif PRODUCTION:
    raise ImproperlyConfigured("MOTCUA_ENV=production needs PostgreSQL (DATABASE_URL).")
else:
    # The demo's web server, worker and beat share one SQLite file: WAL and immediate
    # transactions keep them from tripping over each other's locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
# A PostgreSQL read replica for the reads that may lag (reports, dashboards, public figures):
# only those marked with motcua.db.lagging() go there (docs/scaling.md "Read replica"). In tests
# the alias reads the default test database (TEST MIRROR) instead of creating a second one.
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    if not DATABASES["replica"]["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must be a PostgreSQL database.")
    DATABASES["replica"].update({
        "ATOMIC_REQUESTS": False, "CONN_MAX_AGE": env.int("CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": True, "TEST": {"MIRROR": "default"},
    })
    _options = DATABASES["replica"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
DATABASE_ROUTERS = ["motcua.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # Django's own, with a Vietnamese message (motcua.login_security.MinimumLengthValidator).
    {"NAME": "motcua.login_security.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Staff login lock-out (django-axes; docs/deploy.md "Login security"): LOGIN_MAX_FAILURES wrong
# passwords for one user name from one address lock that pair for LOGIN_LOCK_MINUTES, even with
# the right password afterwards; a success before the limit starts the count again. The web
# login, the admin and the API token endpoint all count.
AUTHENTICATION_BACKENDS = [
    "motcua.login_security.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_MAX_FAILURES", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCK_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Tries while locked do not push the end of the lock further: it ends when the page said.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The same address as the public throttles: X-Forwarded-For only behind NUM_PROXIES proxies.
AXES_CLIENT_IP_CALLABLE = "dossiers.public.proof.client_ip"
AXES_LOCKOUT_CALLABLE = "motcua.login_security.lockout_response"
# A user name axes can store (its column holds 255; ours are at most 150 characters).
AXES_USERNAME_CALLABLE = "motcua.login_security.axes_username"
AXES_HTTP_RESPONSE_CODE = 429
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "staff-home"
LOGOUT_REDIRECT_URL = "login"

# Vietnamese first, English available.
LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", _("Tiếng Việt")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
# The largest attachment a desk or a citizen may upload, per file (dossiers.validators); keep
# the reverse proxy's body limit a little above it (docs/deploy.md).
MOTCUA_UPLOAD_MAX_BYTES = env.int("MOTCUA_UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION or MOTCUA_ENV == "build"
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Throttles and lock-outs must be shared by every web process: Redis when there is one. While
# Redis cannot be reached each process counts on its own for a few seconds at a time
# (motcua/cache.py): the public pages degrade instead of answering 500.
_cache_url = env.str("CACHE_URL", default="") or env.str("REDIS_URL", default="")
if _cache_url.startswith(("redis://", "rediss://")):
    CACHES = {"default": {
        "BACKEND": "motcua.cache.FallbackRedisCache", "LOCATION": _cache_url,
        # A dead or black-holed Redis costs a page at most this long, not the OS timeout.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }}
else:
    CACHES = {"default": env.cache_url_config(_cache_url or "locmemcache://")}

EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Một Cửa <motcua@localhost>")
# The outbox's SMTP calls hold a row lock: never wait on a mail server for long.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "public": env.str("PUBLIC_THROTTLE_RATE", default="60/min"),
        "public_track": env.str("PUBLIC_TRACK_THROTTLE_RATE", default="20/min"),
        "public_submit": env.str("PUBLIC_SUBMIT_THROTTLE_RATE", default="10/min"),
        "public_rating": env.str("PUBLIC_RATING_THROTTLE_RATE", default="10/min"),
    },
    "EXCEPTION_HANDLER": "motcua.api.exception_handler",
    # Throttles identify clients by address: believe X-Forwarded-For only from this many
    # proxies in front (DRF's default believes any header, which lets a client pick its own).
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
# Proof by code + phone (dossiers.public.proof; docs/citizen-portal.md "Tracking"): misses lock
# a client address out after PUBLIC_PROOF_MAX_FAILURES, a code or a phone number after
# PUBLIC_PROOF_TARGET_MAX_FAILURES, for PUBLIC_PROOF_LOCK_SECONDS. A rating kiosk at the desk is
# one address for every citizen who uses it, so five slips by five people would lock it: the
# addresses in PUBLIC_KIOSK_ADDRESSES (IPs or small networks, comma-separated) get
# PUBLIC_PROOF_KIOSK_MAX_FAILURES instead; the code and phone limits still hold for them.
PUBLIC_PROOF_MAX_FAILURES = env.int("PUBLIC_PROOF_MAX_FAILURES", default=5)
PUBLIC_PROOF_TARGET_MAX_FAILURES = env.int("PUBLIC_PROOF_TARGET_MAX_FAILURES", default=10)
PUBLIC_PROOF_LOCK_SECONDS = env.int("PUBLIC_PROOF_LOCK_SECONDS", default=15 * 60)


def _kiosk_addresses(values: list[str]) -> list[str]:
    """The kiosks' addresses, checked at start: a typo must not fail the first citizen, and a
    network wider than a /24 (IPv4) or a /64 (IPv6) would give strangers the kiosk's allowance."""
    import ipaddress

    for value in values:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"PUBLIC_KIOSK_ADDRESSES: {value!r} is not an IP address or network."
            ) from None
        if network.prefixlen < (24 if network.version == 4 else 64):
            raise ImproperlyConfigured(
                f"PUBLIC_KIOSK_ADDRESSES: {value!r} is wider than a /24 (IPv4) or /64 (IPv6)."
            )
    return values


PUBLIC_KIOSK_ADDRESSES = _kiosk_addresses(env.list("PUBLIC_KIOSK_ADDRESSES", default=[]))
PUBLIC_PROOF_KIOSK_MAX_FAILURES = env.int("PUBLIC_PROOF_KIOSK_MAX_FAILURES", default=50)
SPECTACULAR_SETTINGS = {
    "TITLE": "Một Cửa API",
    "DESCRIPTION": "Hệ thống một cửa giải quyết thủ tục hành chính cấp tỉnh.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from our own static files: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for each shared choice set, wherever a serializer uses it.
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "procedures.models.Channel",
        "TimeUnitEnum": "procedures.models.TimeUnit",
        "RoleEnum": "motcua.models.Role",
        "TransitionEnum": "dossiers.models.Transition",
    },
}

# Celery: Redis when REDIS_URL is set; otherwise an embedded broker on the file system, so the
# demo's worker and beat run with no services at all.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        # With Redis unreachable, a transition's on-commit enqueue gives up quickly instead of
        # hanging on the operating system's connect timeout; the outbox keeps the messages.
        "socket_connect_timeout": env.float("REDIS_CONNECT_TIMEOUT", default=2.0),
    }
else:
    _queue_dir = Path(env.str("BROKER_DIR", default=str(VAR_DIR / "broker")))
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
# Publishing retries briefly only: what must not be lost is in the outbox, not in the broker.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2,
}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "motcua.heartbeat", "schedule": env.float("HEARTBEAT_SECONDS", 60.0)},
    # The safety net of the outbox: whatever the on-commit enqueue did not deliver (broker down,
    # worker lost, retry due) goes out within a minute.
    "deliver-outbox": {
        "task": "motcua.deliver_outbox",
        "schedule": env.float("MOTCUA_OUTBOX_SWEEP_SECONDS", 60.0),
        "options": {"expires": 55},
    },
    # In-app notices for dossiers the deadline sweep flagged due soon (once per appointment).
    "notice-due-soon": {
        "task": "motcua.notice_due_soon",
        "schedule": env.float("MOTCUA_DUE_SOON_NOTICE_SECONDS", 300.0),
        "options": {"expires": 290},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
_ = crontab  # the weekly report and the sweep add crontab entries here
# The weekly report (reports/tasks.py, docs/reports.md): the previous ISO week, every Monday at
# 07:00 (CELERY_TIMEZONE); idempotent, so a duplicated or re-delivered run rebuilds in place.
CELERY_BEAT_SCHEDULE["weekly-report"] = {
    "task": "reports.build_weekly_report",
    "schedule": crontab(minute=0, hour=7, day_of_week="mon"),
    "options": {"expires": 6 * 3600},
}
# The reports' summary tables (reports/figures.py, docs/reports.md "Summary tables"): yesterday,
# today and the days the event log says changed; idempotent, skips while another rebuild runs.
CELERY_BEAT_SCHEDULE["refresh-report-figures"] = {
    "task": "reports.refresh_figures",
    "schedule": env.float("MOTCUA_REPORT_FIGURES_SECONDS", 600.0),
    "options": {"expires": 540},
}
# The deadline sweep (dossiers/deadlines.py, docs/deadlines.md): every 5 minutes from 07:00 to
# 17:59, Monday to Saturday (make-up working Saturdays), and once just after midnight to catch
# up on whatever a stopped beat or worker missed. MOTCUA_SWEEP_SECONDS replaces both with a
# plain interval (integration tests, a demo that wants to see letters appear). The sweep is
# idempotent, so an expired or duplicated run costs nothing; it runs as of its own "now".
_sweep_seconds = env.float("MOTCUA_SWEEP_SECONDS", default=0.0)
if _sweep_seconds > 0:
    CELERY_BEAT_SCHEDULE["sweep-deadlines"] = {
        "task": "dossiers.sweep_deadlines", "schedule": _sweep_seconds,
        "options": {"expires": max(_sweep_seconds - 1, 1)},
    }
else:
    CELERY_BEAT_SCHEDULE["sweep-deadlines"] = {
        "task": "dossiers.sweep_deadlines",
        "schedule": crontab(minute="*/5", hour="7-17", day_of_week="mon-sat"),
        "options": {"expires": 280},
    }
    CELERY_BEAT_SCHEDULE["sweep-deadlines-night"] = {
        "task": "dossiers.sweep_deadlines",
        "schedule": crontab(minute=5, hour=0),
        "options": {"expires": 3000},
    }

# The office calendar (DOMAIN.md "Time"); days off and make-up days are edited in the browser.
MOTCUA_OFFICE_HOURS = [("07:30", "11:30"), ("13:00", "17:00")]
MOTCUA_WORK_WEEKDAYS = [0, 1, 2, 3, 4]
MOTCUA_PROVINCE_NAME = env.str("MOTCUA_PROVINCE_NAME", default="Tỉnh An Giang")
MOTCUA_PUBLIC_BASE_URL = env.str("MOTCUA_PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# Deadlines (DOMAIN.md "Time", docs/deadlines.md), in working hours: "due soon" and "predicted
# late" (apology issued now) below this much time left; the apology's extension: None = the
# procedure's own time limit again (at least one working day), or (amount, unit).
MOTCUA_DUE_SOON_HOURS = env.float("MOTCUA_DUE_SOON_HOURS", default=8)
MOTCUA_APOLOGY_LEAD_HOURS = env.float("MOTCUA_APOLOGY_LEAD_HOURS", default=8)
MOTCUA_APOLOGY_EXTENSION = None
# Letters issued per transaction by the sweep (a crash loses at most one batch, re-issued next).
MOTCUA_SWEEP_BATCH_SIZE = env.int("MOTCUA_SWEEP_BATCH_SIZE", default=5000)
# Connections issuing those batches side by side (PostgreSQL; they split the work like two sweeps).
MOTCUA_SWEEP_WORKERS = env.int("MOTCUA_SWEEP_WORKERS", default=2)

# Notifications and the national portal (docs/integrations.md). Adapters are dotted paths; the
# defaults are the offline demo implementations, which record what they would have sent.
MOTCUA_SMS_BACKEND = env.str(
    "MOTCUA_SMS_BACKEND", default="motcua.integrations.sms.DemoSmsBackend"
)
# Brandname SMS routes bill Unicode by 70 characters and often refuse it: send without accents.
MOTCUA_SMS_UNACCENTED = env.bool("MOTCUA_SMS_UNACCENTED", default=True)
MOTCUA_PORTAL_ADAPTER = env.str(
    "MOTCUA_PORTAL_ADAPTER", default="motcua.integrations.portal.DemoPortalAdapter"
)
MOTCUA_PORTAL_URL = env.str("MOTCUA_PORTAL_URL", default="")
MOTCUA_PORTAL_TOKEN = env.str("MOTCUA_PORTAL_TOKEN", default="")
MOTCUA_PORTAL_TIMEOUT = env.float("MOTCUA_PORTAL_TIMEOUT", default=10.0)
# Delivery retries: base × 2^(attempt − 1) seconds, capped; "dead" after the last attempt
# (defaults: 1 min, 2, 4 … capped at 6 h; 10 attempts span about 8.5 hours).
MOTCUA_OUTBOX_MAX_ATTEMPTS = env.int("MOTCUA_OUTBOX_MAX_ATTEMPTS", default=10)
MOTCUA_OUTBOX_RETRY_BASE_SECONDS = env.int("MOTCUA_OUTBOX_RETRY_BASE_SECONDS", default=60)
MOTCUA_OUTBOX_RETRY_MAX_SECONDS = env.int("MOTCUA_OUTBOX_RETRY_MAX_SECONDS", default=6 * 3600)
# Messages one delivery run tries at most (the next run, or one running beside it, continues).
MOTCUA_OUTBOX_BATCH = env.int("MOTCUA_OUTBOX_BATCH", default=5000)
# Seconds a web process gathers the events it commits before one task message asks a worker to
# deliver their messages (motcua.outbox.publication); 0 publishes each event at once.
MOTCUA_PUBLISH_WINDOW = env.float("MOTCUA_PUBLISH_WINDOW", default=0.25)

# Security. Production turns everything on; `manage.py check --deploy` must be clean there.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
# No script reads the CSRF cookie: forms carry the token (htmx posts the form's own fields).
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Logs (motcua/logging.py, docs/operations.md "Logs"): one JSON object a line in production
# (LOG_FORMAT=json), text in development; every record carries the request id, and digit runs
# that may be a phone or ID number are masked before any handler writes them.
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "plain")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or plain.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "motcua.logging.RequestIdFilter"},
        "mask_personal_data": {"()": "motcua.logging.MaskPersonalDataFilter"},
    },
    "formatters": {
        "plain": {"()": "motcua.logging.PlainFormatter"},
        "json": {"()": "motcua.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler", "formatter": LOG_FORMAT,
            "filters": ["request_id", "mask_personal_data"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own loggers go through the handler above only (not also its plain
        # development console), so each line is written once, filtered and masked.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # runserver's access lines: motcua.request writes a better one.
        "django.server": {"level": "WARNING"},
        "weasyprint": {"level": "ERROR"}, "fontTools": {"level": "ERROR"},
        # Login attempts stay in the log (axes.handlers); its start-up banner does not.
        "axes.apps": {"level": "WARNING"},
        # Celery's "succeeded in …: <return value>" lines may hold personal data, and
        # motcua.task writes the outcome of every task already (motcua/celery.py).
        "celery.app.trace": {"level": "WARNING"},
    },
}

# Online payments (payments/, motcua/integrations/payment.py, docs/citizen-portal.md). The
# gateway and the key shared with it come from the environment. Outside production the demo
# gateway (our own page plays the bank) and a dev-only key are the defaults; production has
# neither: online payment stays off until PAYMENT_GATEWAY is set, and then it refuses to start
# without its own PAYMENT_SECRET, or with the demo gateway (which "pays" without money).
PAYMENT_DEMO_GATEWAY = "motcua.integrations.payment.DemoPaymentGateway"
PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="" if PRODUCTION else PAYMENT_DEMO_GATEWAY)
PAYMENT_GATEWAY_URL = env.str("PAYMENT_GATEWAY_URL", default="")
if PRODUCTION:
    PAYMENT_SECRET = env.str("PAYMENT_SECRET", default="")
    if PAYMENT_GATEWAY == PAYMENT_DEMO_GATEWAY:
        raise ImproperlyConfigured("MOTCUA_ENV=production refuses the demo PAYMENT_GATEWAY.")
    if PAYMENT_GATEWAY and len(PAYMENT_SECRET) < 32:
        raise ImproperlyConfigured("PAYMENT_GATEWAY needs PAYMENT_SECRET (32+ characters).")
else:
    PAYMENT_SECRET = env.str("PAYMENT_SECRET", default="dev-only-payment-secret-not-for-production")

# === Two-factor login (TOTP) for leaders and admins: motcua/twofactor.py ===
# TWO_FACTOR: "optional" (default) lets anyone enrol an authenticator app and asks whoever has
# one for a code at every login; "required" also obliges the users of TWO_FACTOR_ROLES and the
# Django admin users (is_staff / is_superuser) to enrol right after their next password;
# "off" never asks (devices are kept but ignored). docs/deploy.md "Login security".
TWO_FACTOR = env.str("TWO_FACTOR", default="optional")
if TWO_FACTOR not in ("optional", "required", "off"):
    raise ImproperlyConfigured("TWO_FACTOR must be optional, required or off.")
# Leaders of units and of the People's Committee, and the catalogue admins (who manage users).
TWO_FACTOR_ROLES = env.list("TWO_FACTOR_ROLES", default=["leader", "supervisor", "catalogue_admin"])
_unknown_roles = set(TWO_FACTOR_ROLES) - {
    "clerk", "officer", "leader", "catalogue_admin", "supervisor"  # motcua.models.Role
}
if _unknown_roles:
    raise ImproperlyConfigured(f"TWO_FACTOR_ROLES: unknown role(s) {sorted(_unknown_roles)}.")
# Between the right password and the code: after this long the password must be given again.
TWO_FACTOR_PENDING_SECONDS = env.int("TWO_FACTOR_PENDING_SECONDS", default=300)
# The name the authenticator app shows beside the codes.
OTP_TOTP_ISSUER = f"Một Cửa {MOTCUA_PROVINCE_NAME}"
# After n consecutive wrong codes a device checks nothing for factor × 2^(n-1) seconds.
OTP_TOTP_THROTTLE_FACTOR = env.int("TWO_FACTOR_THROTTLE_FACTOR", default=1)
# Codes are not kept in the recorded login failures (axes' own defaults plus "otp").
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp"]
# The device admin page shows neither the secret nor its QR code to other admins.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Sessions that owe a code or an enrolment get nothing else (after django-otp's middleware).
MIDDLEWARE.insert(
    MIDDLEWARE.index("django_otp.middleware.OTPMiddleware") + 1,
    "motcua.twofactor.TwoFactorMiddleware",
)

# === Content Security Policy, structured logs: motcua/middleware.py, motcua/logging.py ===
# Content Security Policy (django-csp; docs/operations.md "Content Security Policy"): no
# inline script, style attribute or handler anywhere; our own files only. Forms post to us, or
# to the payment gateway's page (a form's redirect there counts as a form target).
from urllib.parse import urlsplit as _urlsplit  # noqa: E402

from csp.constants import NONE as _CSP_NONE  # noqa: E402
from csp.constants import SELF as _CSP_SELF  # noqa: E402

_form_targets = [_CSP_SELF]
if PAYMENT_GATEWAY_URL:
    _gateway = _urlsplit(PAYMENT_GATEWAY_URL)
    _form_targets.append(f"{_gateway.scheme}://{_gateway.netloc}")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [_CSP_SELF],
        "script-src": [_CSP_SELF],
        "style-src": [_CSP_SELF],
        "img-src": [_CSP_SELF, "data:"],
        "font-src": [_CSP_SELF],
        "connect-src": [_CSP_SELF],
        "object-src": [_CSP_NONE],
        "base-uri": [_CSP_SELF],
        "form-action": _form_targets,
        "frame-ancestors": [_CSP_NONE],
    },
}
# The worker and beat log through LOGGING (motcua.celery connects setup_logging).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# === Staff access audit and change history: audit/ ===
# Staff access log (audit.AccessRecord) and change history (django-simple-history), see
# docs/operations.md "Staff access log". Access records are kept AUDIT_ACCESS_RETENTION_DAYS (2 years by
# default); `manage.py prune_access_log` is their only deleter and refuses younger rows.
AUDIT_ACCESS_RETENTION_DAYS = env.int("AUDIT_ACCESS_RETENTION_DAYS", default=730)
# The catalogue and the settings are written through their services: the admin's history pages
# show the past, they do not restore it (a revert would bypass the services' rules).
SIMPLE_HISTORY_REVERT_DISABLED = True

# === Operations: backups, production adapters ===
# docs/operations.md. Rotating SECRET_KEY: the new key becomes SECRET_KEY and the old one goes to
# SECRET_KEY_FALLBACKS (comma-separated) until the sessions signed with it have expired
# (SESSION_COOKIE_AGE); staff stay logged in meanwhile. Then remove it.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
if PRODUCTION and any(len(key) < 50 for key in SECRET_KEY_FALLBACKS):
    raise ImproperlyConfigured("SECRET_KEY_FALLBACKS: every old key has 50+ characters.")
# Production never "sends" a citizen's SMS, e-mail or portal update into a demo table or the
# log: it refuses to start with a demo adapter (like the demo PAYMENT_GATEWAY above), unless
# ALLOW_DEMO_ADAPTERS=1 says so on purpose (a training copy, a province without an SMS contract
# yet: the demo SMS then wait in the admin's "tin nhắn SMS (demo)").
ALLOW_DEMO_ADAPTERS = env.bool("ALLOW_DEMO_ADAPTERS", default=False)
DEMO_ADAPTERS = {
    "MOTCUA_SMS_BACKEND": {
        "motcua.integrations.sms.DemoSmsBackend", "motcua.integrations.sms.ConsoleSmsBackend",
    },
    "MOTCUA_PORTAL_ADAPTER": {"motcua.integrations.portal.DemoPortalAdapter"},
    "EMAIL_URL": {
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
    },
}
if PRODUCTION and not ALLOW_DEMO_ADAPTERS:
    _in_use = {
        "MOTCUA_SMS_BACKEND": MOTCUA_SMS_BACKEND,
        "MOTCUA_PORTAL_ADAPTER": MOTCUA_PORTAL_ADAPTER,
        "EMAIL_URL": EMAIL_BACKEND,  # noqa: F821 - set from EMAIL_CONFIG above
    }
    _demo = [name for name, value in _in_use.items() if value in DEMO_ADAPTERS[name]]
    if _demo:
        raise ImproperlyConfigured(
            f"MOTCUA_ENV=production refuses demo adapters ({', '.join(_demo)}): configure the "
            "real SMS gateway, national portal and mail server, or set ALLOW_DEMO_ADAPTERS=1 "
            "on purpose (docs/operations.md)."
        )
    if MOTCUA_PORTAL_ADAPTER.endswith(".HttpPortalAdapter") and not MOTCUA_PORTAL_URL:
        raise ImproperlyConfigured("MOTCUA_PORTAL_ADAPTER=HttpPortalAdapter needs MOTCUA_PORTAL_URL.")
