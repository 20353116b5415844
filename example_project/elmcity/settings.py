"""Elm City Fixes: settings, all from environment variables (see docs/example.md).

With no variable set, the site runs against the SeeClickFix emulator on 127.0.0.1:8001, keeps its
data in SQLite under ``example_project/var/``, and its Celery worker and beat talk through kombu's
filesystem transport there too: no server to install. ``DATABASE_URL``, ``CELERY_BROKER_URL`` and
``CACHE_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

from pathlib import Path

import django
from django.utils.translation import gettext_lazy as _

from django_seeclickfix.beat import beat_schedule
from django_seeclickfix.conf import ENVIRONMENT_HOSTS

from . import env

BASE_DIR = Path(__file__).resolve().parent.parent
# Everything the site writes (database, broker queue, generated keys) goes here; git ignores it.
VAR_DIR = Path(env.text("ELMCITY_VAR_DIR") or BASE_DIR / "var").resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.flag("DJANGO_DEBUG", True)
SECRET_KEY = env.text("DJANGO_SECRET_KEY") or env.secret_file(
    VAR_DIR / "secret_key", env.new_secret_key
)
SITE_URL = env.text("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = env.items("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")

INSTALLED_APPS = [
    "civic",  # first, so its templates restyle allauth's pages
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "django_seeclickfix",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "elmcity.urls"
WSGI_APPLICATION = "elmcity.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "civic.context_processors.site",
            ]
        },
    }
]

DATABASES = {
    "default": env.database(
        env.text("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'elmcity.sqlite3'}", BASE_DIR
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The SeeClickFix rate budget (20 requests a minute for the whole site) lives in this cache, so
# every process must see the same one: Redis, or Django's database cache (the default here).
CACHES = {"default": env.cache(env.text("CACHE_URL") or "db://elmcity_cache")}

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
SITE_ID = 1

# allauth: sign up and log in with an email address and a password.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"  # a demo: no mail server to confirm addresses with
ACCOUNT_DEFAULT_HTTP_PROTOCOL = SITE_URL.split(":", 1)[0]
ACCOUNT_LOGOUT_ON_GET = False
# Connecting SeeClickFix starts with a POST from this site's own button, never from a link.
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False  # django_seeclickfix keeps the tokens, encrypted
SOCIALACCOUNT_PROVIDERS = {
    "seeclickfix": {
        "APPS": [
            {
                "client_id": env.text("SCF_CLIENT_ID", "elmcity-demo"),
                # Empty for an app SeeClickFix registered for the implicit flow.
                "secret": env.text("SCF_CLIENT_SECRET", "elmcity-demo-secret"),
            }
        ]
    }
}

_environment = env.text("SCF_ENVIRONMENT", "emulator")
_area = env.text("SCF_AREA_PLACE_URL")
SEECLICKFIX = {
    "ENVIRONMENT": _environment,
    # The real hosts need no BASE_URL; anything else (the emulator) does.
    "BASE_URL": env.text(
        "SCF_BASE_URL", "" if _environment in ENVIRONMENT_HOSTS else "http://127.0.0.1:8001"
    )
    or None,
    "TOKEN_KEYS": env.items("SCF_TOKEN_KEYS")
    or [env.secret_file(VAR_DIR / "token_key", env.new_fernet_key)],
    "FLOW": env.text("SCF_FLOW", "auto"),
    "SITE_URL": SITE_URL,
    # A lively demo: a linked account is synced again a minute after its last sync.
    "SYNC_INTERVAL": int(env.text("SCF_SYNC_INTERVAL", "60")),
    "SYNC_PASS_INTERVAL": int(env.text("SCF_SYNC_PASS_INTERVAL", "30")),
    # SeeClickFix's documented limit, shared by the site and every worker through CACHES.
    "RATE_LIMIT_REQUESTS": int(env.text("SCF_RATE_LIMIT_REQUESTS", "20")),
    # The area change feed (docs/feed.md), off unless SCF_AREA_PLACE_URL names a place
    # ("new-haven" on the emulator): one request per pass for every linked resident's public
    # issues there. It runs more often than SYNC_INTERVAL, or it never covers anyone.
    "AREAS": [{"NAME": "elm-city", "PLACE_URL": _area}] if _area else [],
    "FEED_INTERVAL": int(env.text("SCF_FEED_INTERVAL", "30")),
}

CELERY_BROKER_URL = env.text("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue = VAR_DIR / "broker" / "queue"
    _control = VAR_DIR / "broker" / "control"
    for _folder in (_queue, _control):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue),
        "data_folder_out": str(_queue),
        "control_folder": str(_control),
    }
CELERY_TASK_IGNORE_RESULT = True  # outcomes the site shows are written to its own tables
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
# Beat queues the library's periodic jobs: a sync pass (each linked account whose last sync is
# older than SYNC_INTERVAL) every SYNC_PASS_INTERVAL, and refreshing tokens that expire soon.
CELERY_BEAT_SCHEDULE = beat_schedule(SEECLICKFIX)

LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", _("English"))]
TIME_ZONE = "America/New_York"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# allauth mails on sign-up; the console is enough for a demo. Django 6.1 replaced EMAIL_BACKEND
# with MAILERS (the old setting warns there).
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "short": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
        "access": {"format": "%(asctime)s %(message)s"},
    },
    "filters": {"redact": {"()": "civic.logging.RedactSecrets"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "short"},
        # runserver's access log, with OAuth codes and states in query strings masked
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "access",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "django_seeclickfix": {"level": env.text("SCF_LOG_LEVEL", "INFO")},
        "civic": {"level": "INFO"},
        "celery": {"level": "INFO"},
        "django.server": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "django.request": {"filters": ["redact"]},
    },
}
