"""Settings for the test suite: SQLite in memory, or the PostgreSQL the harness started."""

import os
from urllib.parse import urlsplit

import django

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SITE_ID = 1
if django.VERSION >= (6, 1):
    # Django 6.1 configures mail through MAILERS and deprecates EMAIL_BACKEND (allauth mails on
    # sign-up); the test runner swaps in its in-memory backend either way.
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def _database() -> dict[str, object]:
    url = os.environ.get("SCF_TEST_DATABASE_URL")
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username,
        "HOST": parts.hostname,
        "PORT": parts.port,
        "TEST": {"NAME": os.environ.get("SCF_TEST_DATABASE_TEST_NAME", "test_scf")},
    }


DATABASES = {"default": _database()}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.headless",
    "django_seeclickfix",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

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
            ]
        },
    }
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SILENCED_SYSTEM_CHECKS = [
    "django_seeclickfix.W002",  # LocMem is right for single-process tests
    "django_seeclickfix.W006",  # Django's test client is http://testserver
]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; tests only

SOCIALACCOUNT_PROVIDERS = {
    "seeclickfix": {"APPS": [{"client_id": "test-client-id", "secret": "test-client-secret"}]}
}
SOCIALACCOUNT_STORE_TOKENS = False

SEECLICKFIX = {
    # Fixed test keys: never use these anywhere else.
    "TOKEN_KEYS": ["Dq6gRjFzc2x5yM0QvQ1m0V0Q2lO0l6kK1s8P3n0Y7dE="],
    "SITE_URL": "http://testserver",  # OAuth redirect URIs are built from it
}
HEADLESS_FRONTEND_URLS = {"socialaccount_login_error": "http://testserver/app/login-error"}

CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = "memory://"
