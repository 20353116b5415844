"""System checks, ids ``django_seeclickfix.E001``… (errors) and ``…W001``… (warnings)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from celery import current_app
from cryptography.fernet import Fernet
from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from .conf import GENERATE_KEY, app_settings
from .provider_id import PROVIDER_ID

REQUIRED_APPS = ("allauth", "allauth.account", "allauth.socialaccount")
PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


def _id(kind: str, number: int) -> str:
    return f"django_seeclickfix.{kind}{number:03d}"


@register()
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E001: the SEECLICKFIX dict itself is wrong (bad type, unknown key, bad value)."""
    try:
        app_settings.validate_all()
    except ImproperlyConfigured as err:
        return [Error(str(err), id=_id("E", 1))]
    return []


@register()
def check_allauth(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E002: allauth apps missing.

    (E003, AccountMiddleware missing, is retired: allauth.account refuses to start without it,
    before any check runs.)"""
    messages: list[CheckMessage] = []
    missing = [app for app in REQUIRED_APPS if app not in settings.INSTALLED_APPS]
    if missing:
        messages.append(
            Error(
                f"django-seeclickfix needs {', '.join(missing)} in INSTALLED_APPS.",
                hint='Add "allauth", "allauth.account", "allauth.socialaccount" before '
                '"django_seeclickfix".',
                id=_id("E", 2),
            )
        )
    return messages


@register()
def check_token_keys(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E004: no TOKEN_KEYS. E005: a TOKEN_KEYS entry is not a Fernet key."""
    try:
        keys = app_settings.TOKEN_KEYS
    except ImproperlyConfigured:
        return []  # reported by E001
    if not keys:
        return [
            Error(
                'SEECLICKFIX["TOKEN_KEYS"] is empty: linked accounts\' tokens cannot be stored.',
                hint=f"Generate a key with {GENERATE_KEY} and load it from the environment.",
                id=_id("E", 4),
            )
        ]
    messages: list[CheckMessage] = []
    for position, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            # Never echo the key itself: it is a secret even when malformed.
            messages.append(
                Error(
                    f'SEECLICKFIX["TOKEN_KEYS"][{position}] is not a valid Fernet key '
                    "(32 url-safe base64-encoded bytes).",
                    hint=f"Generate one with {GENERATE_KEY}.",
                    id=_id("E", 5),
                )
            )
    return messages


def _provider_apps() -> list[Any]:
    provider = getattr(settings, "SOCIALACCOUNT_PROVIDERS", {}).get("seeclickfix", {})
    apps = list(provider.get("APPS", []))
    if provider.get("APP"):
        apps.append(provider["APP"])
    return apps


def _social_app_in_database() -> bool:
    """Whether a SocialApp for this provider exists; ``False`` when the database cannot be read
    yet (before ``migrate``), so the warning errs on the side of being shown."""
    from allauth.socialaccount.models import SocialApp  # deferred: checks load before models

    try:
        return bool(SocialApp.objects.filter(provider=PROVIDER_ID).exists())
    except DatabaseError:
        return False


@register()
def check_credentials(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W001: no SeeClickFix app credentials, in settings or as a SocialApp in the database."""
    if any(isinstance(app, dict) and app.get("client_id") for app in _provider_apps()):
        return []
    if _social_app_in_database():
        return []
    return [
        Warning(
            'No SeeClickFix app in SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"]: nobody can '
            "connect SeeClickFix.",
            hint='Add {"client_id": ..., "secret": ...} (secret empty for an app SeeClickFix '
            "registered for the implicit flow), or create a SocialApp for provider "
            '"seeclickfix" in the admin.',
            id=_id("W", 1),
        )
    ]


@register()
def check_rate_limit_cache(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W002: the shared rate budget lives in a per-process cache outside DEBUG."""
    if settings.DEBUG:
        return []
    try:
        alias = app_settings.RATE_LIMIT_CACHE
    except ImproperlyConfigured:
        return []
    caches = getattr(settings, "CACHES", {})
    backend = caches.get(alias, {}).get("BACKEND", "django.core.cache.backends.locmem.LocMemCache")
    if alias not in caches and alias != "default":
        return [
            Warning(
                f'SEECLICKFIX["RATE_LIMIT_CACHE"] is {alias!r}, which is not in CACHES.',
                hint="Point it at a cache shared by every worker (Redis).",
                id=_id("W", 2),
            )
        ]
    if backend in PER_PROCESS_CACHES:
        return [
            Warning(
                f"The rate budget cache {alias!r} uses {backend.rsplit('.', 1)[-1]}, which each "
                "process keeps to itself: every worker will spend SeeClickFix's 20 requests per "
                "minute on its own and the service will answer 429.",
                hint="Use django.core.cache.backends.redis.RedisCache (or another shared cache) "
                'for that alias, or set SEECLICKFIX["RATE_LIMIT_CACHE"] to one.',
                id=_id("W", 2),
            )
        ]
    return []


def _celery_eager() -> bool:
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return True
    return bool(current_app.conf.task_always_eager)


@register()
def check_celery_eager(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W003: Celery runs tasks eagerly (in the web request) outside DEBUG."""
    if settings.DEBUG or not _celery_eager():
        return []
    return [
        Warning(
            "Celery is set to run tasks eagerly (task_always_eager) while DEBUG is off: syncs "
            "and comments will run inside web requests and wait on SeeClickFix's rate limit.",
            hint="Remove CELERY_TASK_ALWAYS_EAGER in production and run a worker.",
            id=_id("W", 3),
        )
    ]


@register()
def check_site_url(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E006: nothing to build the OAuth redirect URI from (no SITE_URL, no sites framework)."""
    try:
        site_url = app_settings.SITE_URL
    except ImproperlyConfigured:
        return []  # reported by E001
    if site_url or "django.contrib.sites" in settings.INSTALLED_APPS:
        return []
    return [
        Error(
            'SEECLICKFIX["SITE_URL"] is not set and django.contrib.sites is not installed: the '
            "OAuth redirect URI has nothing to be built from (it is never taken from the request's "
            "Host header).",
            hint='Set SEECLICKFIX["SITE_URL"] to the site\'s public root, e.g. '
            "'https://civic.example.org'.",
            id=_id("E", 6),
        )
    ]


@register()
def check_feed_interval(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W004: with AREAS set, a feed that runs less often than SYNC_INTERVAL never covers anyone."""
    try:
        areas, feed, sync = (
            app_settings.AREAS,
            app_settings.FEED_INTERVAL,
            app_settings.SYNC_INTERVAL,
        )
    except ImproperlyConfigured:
        return []  # reported by E001
    if not areas or feed < sync:
        return []
    return [
        Warning(
            f'SEECLICKFIX["FEED_INTERVAL"] ({feed} s) is not shorter than SYNC_INTERVAL '
            f"({sync} s): a feed pass is never recent enough to cover the linked accounts, so "
            "every account still costs one request per SYNC_INTERVAL.",
            hint="Run the feed more often than the per-user syncs (the defaults: 300 s and 900 s).",
            id=_id("W", 4),
        )
    ]


# The lifetime of SeeClickFix's access tokens (Doorkeeper's default, seen in live captures).
SEECLICKFIX_TOKEN_LIFETIME = 7200


@register()
def check_refresh_margin(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E016: TOKEN_REFRESH_MARGIN not shorter than REFRESH_TOKEN_MAX_AGE (every run would
    refresh every link); W016: not shorter than SeeClickFix's token lifetime (clamped to half
    each token's lifetime, so the setting has no effect)."""
    try:
        margin, max_age = app_settings.TOKEN_REFRESH_MARGIN, app_settings.REFRESH_TOKEN_MAX_AGE
    except ImproperlyConfigured:
        return []  # reported by E001
    if max_age and margin >= max_age:
        return [
            Error(
                f'SEECLICKFIX["TOKEN_REFRESH_MARGIN"] ({margin} s) is not shorter than '
                f"REFRESH_TOKEN_MAX_AGE ({max_age} s): every refresh token would count as about "
                "to expire the moment it is issued, so every refresh_expiring_tokens run would "
                "refresh every link.",
                hint="Keep the margin well below REFRESH_TOKEN_MAX_AGE (the default is 300 s).",
                id=_id("E", 16),
            )
        ]
    if margin >= SEECLICKFIX_TOKEN_LIFETIME:
        return [
            Warning(
                f'SEECLICKFIX["TOKEN_REFRESH_MARGIN"] ({margin} s) is not shorter than the '
                f"{SEECLICKFIX_TOKEN_LIFETIME} s SeeClickFix's access tokens live: each token's "
                "margin is clamped to half its lifetime, so this value never applies.",
                hint="Use a margin of a few minutes (the default is 300 s).",
                id=_id("W", 16),
            )
        ]
    return []


# --- what makes the connect flow fail without an error of its own ------------------------------

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
PLACEHOLDER_SITE_DOMAIN = "example.com"


def _site_domain() -> str | None:
    """The sites framework's current domain, when the redirect URI is built from it."""
    if "django.contrib.sites" not in settings.INSTALLED_APPS:
        return None
    from django.contrib.sites.models import Site  # deferred: only when sites is installed

    try:
        return str(Site.objects.get_current().domain)
    except (DatabaseError, ImproperlyConfigured, Site.DoesNotExist):
        return None  # no table yet, or no SITE_ID: nothing to judge


def _site_url_or_none() -> str | None:
    try:
        return app_settings.SITE_URL  # type: ignore[no-any-return]
    except ImproperlyConfigured:
        return None  # reported by E001


def _redirect_root() -> str | None:
    """The scheme and host the redirect URI gets (what ``flow.site_root`` returns)."""
    site_url = _site_url_or_none()
    if site_url:
        return site_url
    domain = _site_domain()
    if domain is None:
        return None
    from allauth.account import app_settings as account_settings  # deferred: reads settings

    return f"{account_settings.DEFAULT_HTTP_PROTOCOL}://{domain}"


@register()
def check_placeholder_site(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W005: the redirect URI would be built from the sites framework's ``example.com``."""
    if settings.DEBUG or _site_url_or_none() or _site_domain() != PLACEHOLDER_SITE_DOMAIN:
        return []
    return [
        Warning(
            "The current django.contrib.sites Site is still 'example.com': the OAuth redirect "
            "URI would be http(s)://example.com/..., which SeeClickFix sends nobody back to.",
            hint="Set SEECLICKFIX[\"SITE_URL\"] to this site's public root, or change the Site's "
            "domain in the admin (Sites).",
            id=_id("W", 5),
        )
    ]


@register()
def check_plain_http_redirect(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W006: an ``http://`` redirect URI while DEBUG is off."""
    root = None if settings.DEBUG else _redirect_root()
    if root is None or not root.startswith("http://"):
        return []
    return [
        Warning(
            f"The OAuth redirect URI starts with {root}/: codes and tokens would travel "
            "unencrypted, and SeeClickFix registers https redirect URIs for live apps.",
            hint='Set SEECLICKFIX["SITE_URL"] to an https:// root (or, when the root comes from '
            'the sites framework, ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https").',
            id=_id("W", 6),
        )
    ]


@register()
def check_login_on_get(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W007: SOCIALACCOUNT_LOGIN_ON_GET on, which the connect flow refuses."""
    if not getattr(settings, "SOCIALACCOUNT_LOGIN_ON_GET", False):
        return []
    return [
        Warning(
            "SOCIALACCOUNT_LOGIN_ON_GET is True: the SeeClickFix flow starts only from a POST "
            "(with CSRF), so allauth's own provider login links (plain GETs) are refused.",
            hint="Remove SOCIALACCOUNT_LOGIN_ON_GET (its default is False) and use "
            "{% seeclickfix_connect_button %} or allauth's POST form.",
            id=_id("W", 7),
        )
    ]


@register()
def check_production_on_loopback(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W008: ENVIRONMENT "production" with BASE_URL on this machine (an emulator or a tunnel)."""
    try:
        environment, base_url = app_settings.ENVIRONMENT, app_settings.BASE_URL
    except ImproperlyConfigured:
        return []  # reported by E001
    if environment != "production" or not base_url:
        return []
    host = (urlsplit(base_url).hostname or "").lower()
    if host not in LOOPBACK_HOSTS and not host.startswith("127."):
        return []
    return [
        Warning(
            f'SEECLICKFIX["ENVIRONMENT"] is "production" but BASE_URL is {base_url}: accounts '
            "linked against this local server would be stored as production SeeClickFix users.",
            hint='Give the local server its own environment name, e.g. "emulator", or remove '
            "BASE_URL to talk to seeclickfix.com.",
            id=_id("W", 8),
        )
    ]
