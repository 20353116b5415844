"""Settings: one lazy accessor, ``app_settings``, over the ``SEECLICKFIX`` dict.

Every read goes back to ``django.conf.settings`` so ``override_settings`` works in tests. A value
of the wrong type or out of range raises ``ImproperlyConfigured`` naming the exact key and what to
put there. The README's settings reference is written from ``SETTINGS`` below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ENVIRONMENT_HOSTS: dict[str, str] = {
    "production": "https://seeclickfix.com",
    "test": "https://test.seeclickfix.com",
    "int": "https://int.seeclickfix.com",
}

FLOWS = ("auto", "code", "implicit")
AUDIENCE_CHECKS = ("required", "when_available")
# What the messages about TOKEN_KEYS tell people to run.
GENERATE_KEY = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)
RATE_LIMIT_SCOPES = ("global", "token")


def _key(name: str) -> str:
    return f'SEECLICKFIX["{name}"]'


def _positive_number(name: str, value: Any, *, integer: bool = False) -> Any:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:  # type: ignore[operator]
        what = "a positive integer" if integer else "a positive number"
        raise ImproperlyConfigured(f"{_key(name)} must be {what}, got {value!r}.")
    return value


def _positive_int(name: str, value: Any) -> int:
    return int(_positive_number(name, value, integer=True))


def _positive_float(name: str, value: Any) -> float:
    return float(_positive_number(name, value))


def _optional_positive_int(name: str, value: Any) -> int | None:
    return None if value is None else _positive_int(name, value)


def _share(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ImproperlyConfigured(
            f"{_key(name)} must be a share between 0 and 1 (e.g. 0.05), got {value!r}."
        )
    return float(value)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"{_key(name)} must be True or False, got {value!r}.")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    def validate(name: str, value: Any) -> str:
        if value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise ImproperlyConfigured(f"{_key(name)} must be one of {allowed}, got {value!r}.")
        return str(value)

    return validate


def _optional_text(name: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ImproperlyConfigured(
            f"{_key(name)} must be a non-empty string or None, got {value!r}."
        )
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ImproperlyConfigured(f"{_key(name)} must be a non-empty string, got {value!r}.")
    return value


def _environment(name: str, value: Any) -> str:
    # A custom BASE_URL (the emulator, a proxy) may carry its own environment name, so accounts
    # linked against it are never mistaken for production ones.
    if not isinstance(value, str) or not value.replace("-", "").replace("_", "").isalnum():
        raise ImproperlyConfigured(
            f"{_key(name)} must be one of 'production', 'test', 'int' (or a short slug such as "
            f"'emulator' together with BASE_URL), got {value!r}."
        )
    return value


def _base_url(name: str, value: Any) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ImproperlyConfigured(
            f"{_key(name)} must be the host root, like 'https://test.seeclickfix.com' or "
            f"'http://127.0.0.1:8001' (the client adds /api/v2), got {value!r}."
        )
    if parts.path.rstrip("/").endswith("/api/v2"):
        raise ImproperlyConfigured(
            f"{_key(name)} must be the host root without '/api/v2' (the client adds it), "
            f"got {value!r}."
        )
    return str(value).rstrip("/")


def _site_url(name: str, value: Any) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ImproperlyConfigured(
            f"{_key(name)} must be this site's public scheme and host, like "
            f"'https://civic.example.org' (a path prefix comes from FORCE_SCRIPT_NAME), "
            f"got {value!r}."
        )
    return str(value).rstrip("/")


def _token_keys(name: str, value: Any) -> list[str]:
    if isinstance(value, str | bytes):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(k, str | bytes) for k in value):
        raise ImproperlyConfigured(
            f"{_key(name)} must be a list of Fernet keys (the first one encrypts, all of them "
            f"decrypt). Make one with: {GENERATE_KEY}"
        )
    return [k.decode() if isinstance(k, bytes) else k for k in value]


def _service_account(name: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    # Never echo the value: it holds credentials.
    allowed = {"TOKEN", "EMAIL", "PASSWORD", "ORGANIZATION_ID", "TOKEN_EXPIRES"}
    shape = (
        f"{_key(name)} must be a dict with TOKEN (a personal access token), or EMAIL and "
        "PASSWORD (legacy HTTP Basic), and optionally ORGANIZATION_ID and TOKEN_EXPIRES"
    )
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(f"{shape}; got a {type(value).__name__}.")
    if set(value) - allowed:
        raise ImproperlyConfigured(f"{shape}; unknown keys: {sorted(set(value) - allowed)}.")
    has_token = bool(value.get("TOKEN"))
    has_basic = bool(value.get("EMAIL")) and bool(value.get("PASSWORD"))
    if not has_token and not has_basic:
        raise ImproperlyConfigured(
            f"{_key(name)} needs TOKEN (a personal access token), or both EMAIL and PASSWORD."
        )
    return dict(value)


AREA_KEYS = frozenset({"NAME", "PLACE_URL", "BBOX"})
AREA_NAME_MAX_LENGTH = 100  # SeeClickFixAreaFeed.name
PLACE_URL_MAX_LENGTH = 200  # fits SeeClickFixAreaFeed.definition


def _bbox_ok(bbox: Any) -> bool:
    if (
        not isinstance(bbox, list | tuple)
        or len(bbox) != 4
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in bbox)
    ):
        return False
    min_lat, min_lng, max_lat, max_lng = bbox
    return bool(-90 <= min_lat < max_lat <= 90 and -180 <= min_lng < max_lng <= 180)


def _areas(name: str, value: Any) -> list[dict[str, Any]]:
    hint = (
        f"{_key(name)} must be a list of dicts, each with a unique NAME and either PLACE_URL "
        "(e.g. 'new-haven') or BBOX (min_lat, min_lng, max_lat, max_lng)"
    )
    if not isinstance(value, list | tuple):
        raise ImproperlyConfigured(f"{hint}; got {value!r}.")
    areas: list[dict[str, Any]] = []
    for area in value:
        area_name = area.get("NAME") if isinstance(area, Mapping) else None
        if (
            not isinstance(area, Mapping)
            or not isinstance(area_name, str)
            or not area_name.strip()
            or len(area_name) > AREA_NAME_MAX_LENGTH
        ):
            raise ImproperlyConfigured(
                f"{hint} (NAME: at most {AREA_NAME_MAX_LENGTH} characters); got {area!r}."
            )
        if set(area) - AREA_KEYS:
            raise ImproperlyConfigured(
                f"{hint}; area {area_name!r} has unknown keys {sorted(set(area) - AREA_KEYS)}."
            )
        place, bbox = area.get("PLACE_URL"), area.get("BBOX")
        if bool(place) == (bbox is not None):
            raise ImproperlyConfigured(f"{hint}; area {area_name!r} needs exactly one of them.")
        if place is not None and (
            not isinstance(place, str) or not place.strip() or len(place) > PLACE_URL_MAX_LENGTH
        ):
            raise ImproperlyConfigured(f"{hint}; area {area_name!r} has PLACE_URL {place!r}.")
        if bbox is not None and not _bbox_ok(bbox):
            raise ImproperlyConfigured(
                f"{hint}, minimum before maximum, latitudes within ±90 and longitudes within "
                f"±180; area {area_name!r} has BBOX {bbox!r}."
            )
        areas.append(dict(area))
    names = [a["NAME"] for a in areas]
    if len(set(names)) != len(names):
        raise ImproperlyConfigured(f"{hint}; names repeat: {names!r}.")
    return areas


@dataclass(frozen=True)
class Setting:
    default: Any
    validate: Callable[[str, Any], Any]
    doc: str


SETTINGS: dict[str, Setting] = {
    "ENVIRONMENT": Setting(
        "production",
        _environment,
        "Which SeeClickFix: 'production', 'test' (test.seeclickfix.com) or 'int' (the sandbox). "
        "With BASE_URL, any short slug (e.g. 'emulator'). Stored on every linked account.",
    ),
    "BASE_URL": Setting(
        None,
        _base_url,
        "Host root that overrides the environment's host, e.g. the emulator's "
        "'http://127.0.0.1:8001'. The client adds /api/v2; OAuth URLs derive from it.",
    ),
    "TOKEN_KEYS": Setting(
        [],
        _token_keys,
        "Fernet keys that encrypt stored tokens. The first encrypts; all decrypt. Rotate by "
        "putting a new key first, then running seeclickfix_rotate_keys.",
    ),
    "SERVICE_ACCOUNT": Setting(
        None,
        _service_account,
        "Credentials for service_client(): {'TOKEN': personal access token} (preferred) or "
        "{'EMAIL', 'PASSWORD'} (legacy Basic); optional 'ORGANIZATION_ID' and 'TOKEN_EXPIRES' "
        "(a date, for the expiry warning of seeclickfix_check).",
    ),
    "FLOW": Setting(
        "auto",
        _choice(FLOWS),
        "OAuth flow: 'code' (authorization code + PKCE), 'implicit' (for apps SeeClickFix "
        "registered without a secret) or 'auto' (implicit only when no secret is configured).",
    ),
    "IMPLICIT_AUDIENCE_CHECK": Setting(
        "required",
        _choice(AUDIENCE_CHECKS),
        "Implicit flow and mobile apps' provider tokens: how a token this site did not request "
        "itself is proven to be this app's (Doorkeeper's /oauth/token/info). 'required': no "
        "answer, a 404 or an answer without the application refuses the sign-in; "
        "'when_available': only a token info naming another app refuses (for a server without "
        "token info, at the price of token substitution).",
    ),
    "PKCE": Setting(True, _boolean, "Send PKCE (S256) with the authorization-code flow."),
    "STATE_MAX_AGE": Setting(
        600, _positive_int, "Seconds an OAuth state stays valid between authorize and callback."
    ),
    "SITE_URL": Setting(
        None,
        _site_url,
        "Public root URL of this site, e.g. 'https://civic.example.org'. The OAuth redirect_uri "
        "is built from it (never from the request's Host header) and must match what was "
        "registered with SeeClickFix. Default: the django.contrib.sites domain with "
        "ACCOUNT_DEFAULT_HTTP_PROTOCOL.",
    ),
    "RATE_LIMIT_REQUESTS": Setting(
        20, _positive_int, "Requests allowed per RATE_LIMIT_PERIOD, shared by every worker."
    ),
    "RATE_LIMIT_PERIOD": Setting(60, _positive_float, "Length of the rate window in seconds."),
    "RATE_LIMIT_SCOPE": Setting(
        "global",
        _choice(RATE_LIMIT_SCOPES),
        "'global': one budget for everything behind this site's address (SeeClickFix's rule); "
        "'token': one budget per access token.",
    ),
    "RATE_LIMIT_MAX_WAIT": Setting(
        30.0,
        _positive_float,
        "Seconds a request may wait for budget before RateLimited is raised (Celery then "
        "retries the task later instead of holding a worker).",
    ),
    "RATE_LIMIT_LEASE": Setting(
        15.0,
        _positive_float,
        "Seconds a claimed unit of the budget stays claimed without its process renewing it: "
        "a process killed outright gives its share of the budget back within this time.",
    ),
    "RATE_LIMIT_RESERVE": Setting(
        0.05,
        _share,
        "Share of the budget the planner never plans for background work (syncs, the feed), "
        "so interactive requests (a user's post, the OAuth callback) find budget at once. At "
        "20 requests a minute, 0.05 keeps one a minute free.",
    ),
    "RATE_LIMIT_CACHE": Setting(
        "default",
        _text,
        "Alias in CACHES that holds the shared budget. Must be shared by all processes "
        "(Redis, Memcached, database), not LocMem.",
    ),
    "RETRY_AFTER_DEFAULT": Setting(
        60, _positive_int, "Seconds to pause when a 429 has no usable Retry-After header."
    ),
    "CONNECT_TIMEOUT": Setting(5.0, _positive_float, "TCP connect timeout, seconds."),
    "READ_TIMEOUT": Setting(30.0, _positive_float, "Timeout between bytes received, seconds."),
    "REQUEST_DEADLINE": Setting(
        60.0, _positive_float, "Total time one request may take, body included, seconds."
    ),
    "MAX_RESPONSE_BYTES": Setting(
        10 * 1024 * 1024, _positive_int, "Largest response body accepted, bytes."
    ),
    "USER_AGENT": Setting(
        None,
        _optional_text,
        "User-Agent sent with every request. Default: django-seeclickfix/<version> (+<url>).",
    ),
    "ETAG_CACHE": Setting(
        "default", _text, "Alias in CACHES where ETags for conditional requests are kept."
    ),
    "PER_PAGE": Setting(
        100, _positive_int, "Page size asked for when listing (SeeClickFix caps at 100)."
    ),
    "PROFILE_MAX_AGE": Setting(
        86400, _positive_int, "Seconds before a sync refreshes an account's profile snapshot."
    ),
    "SYNC_INTERVAL": Setting(
        900,
        _positive_int,
        "Seconds between per-user syncs of one account (sync_all_accounts skips accounts "
        "synced more recently).",
    ),
    "SYNC_INTERVAL_WITH_FEED": Setting(
        21600,
        _positive_int,
        "Seconds between per-user syncs of one account while the area feed covers it (AREAS "
        "set and every area's feed completed a pass within SYNC_INTERVAL): the per-user sync "
        "then only catches what the feed cannot see (private issues, issues outside the areas).",
    ),
    "SYNC_BATCH_SIZE": Setting(
        None,
        _optional_positive_int,
        "At most this many accounts per sync_all_accounts run. Default: as many as the rate "
        "budget allows until the next run, at each account's expected cost.",
    ),
    "SYNC_LOCK_TTL": Setting(
        600, _positive_int, "Seconds a per-account sync lock lives if a worker dies holding it."
    ),
    "SYNC_PASS_INTERVAL": Setting(
        300,
        _positive_int,
        "Seconds between sync_all_accounts runs (the beat schedule helper uses it, and a pass "
        "queues what the rate budget allows until the next one).",
    ),
    "SYNC_QUEUE_TIMEOUT": Setting(
        1800,
        _positive_int,
        "Seconds after which an account queued for sync whose sync never ran is queued again "
        "(its message was lost, e.g. with a broker restart). Longer than a task may wait in "
        "the queue plus TASK_RETRY_BACKOFF_MAX.",
    ),
    "RETIRE_REPLACED_TOKENS": Setting(
        False,
        _boolean,
        "Revoke the grant a refresh replaced right after every refresh. By default a replaced "
        "refresh token is kept until the new access token is first used, when SeeClickFix (a "
        "Doorkeeper server) revokes it itself, and revoked explicitly only when no such use "
        "follows (the admin's refresh, a disconnect first). Turn on for a server that keeps "
        "previous grants alive after use; costs one request per refresh.",
    ),
    "REFRESH_TOKEN_MAX_AGE": Setting(
        None,
        _optional_positive_int,
        "Seconds after which SeeClickFix's refresh tokens expire, if they do (Doorkeeper's "
        "default: never). When set, refresh_expiring_tokens uses a refresh token before it "
        "reaches that age; otherwise tokens are refreshed only when a request needs them.",
    ),
    "TOKEN_REFRESH_MARGIN": Setting(
        300, _positive_int, "Refresh access tokens this many seconds before they expire."
    ),
    "AREAS": Setting(
        [],
        _areas,
        "Areas for the change feed: [{'NAME': 'city', 'PLACE_URL': 'new-haven'}] or "
        "[{'NAME': 'box', 'BBOX': [min_lat, min_lng, max_lat, max_lng]}]. Each has its own "
        "cursor in the database (SeeClickFixAreaFeed); changing an area's PLACE_URL or BBOX "
        "restarts it.",
    ),
    "FEED_INTERVAL": Setting(
        300,
        _positive_int,
        "Seconds between sync_area_feed runs (the beat schedule helper uses it). Keep it "
        "below SYNC_INTERVAL, or the feed never counts as covering the accounts.",
    ),
    "FEED_BACKFILL": Setting(
        86400,
        _positive_int,
        "Seconds before its first pass from which a new area's feed starts reading changes "
        "(older history comes from the per-user syncs). At least SYNC_INTERVAL.",
    ),
    "OUTBOX_SWEEP_INTERVAL": Setting(
        60,
        _positive_int,
        "Seconds between sweep_outbox runs (the beat schedule helper uses it): the sweeper "
        "sends owed posts and revocations whose broker message was lost.",
    ),
    "OUTBOX_REQUEUE_AFTER": Setting(
        300,
        _positive_int,
        "Seconds after its message was due before an unfinished post or revocation counts as "
        "lost and is sent again. A lost message is recovered within this plus "
        "OUTBOX_SWEEP_INTERVAL; a message merely waiting longer in a busy queue is harmless "
        "to send twice (the row decides, not the message).",
    ),
    "OUTBOX_MAX_AGE": Setting(
        86400,
        _positive_int,
        "Seconds after which an owed post that was never sent is given up (failed, with the "
        "reason) instead of posted late; one that may have been sent is looked up first.",
    ),
    "TASK_MAX_RETRIES": Setting(8, _positive_int, "Retries of a task before it gives up."),
    "TASK_RETRY_BACKOFF_MAX": Setting(
        600, _positive_int, "Longest delay between task retries, seconds (jitter applied)."
    ),
    "TASK_SOFT_TIME_LIMIT": Setting(
        240, _positive_int, "Celery soft time limit of the library's tasks, seconds."
    ),
    "TASK_TIME_LIMIT": Setting(300, _positive_int, "Celery hard time limit, seconds."),
}


def _with_suggestion(key: object) -> str:
    """``SYNC_INTERVALL (did you mean SYNC_INTERVAL?)``, or just the key."""
    close = get_close_matches(str(key).upper(), SETTINGS, n=1, cutoff=0.6)
    return f"{key} (did you mean {close[0]}?)" if close else str(key)


class AppSettings:
    """Attribute access to ``settings.SEECLICKFIX`` with defaults and validation on every read."""

    def _raw(self) -> Mapping[str, Any]:
        value = getattr(settings, "SEECLICKFIX", {})
        if not isinstance(value, Mapping):
            raise ImproperlyConfigured(f"SEECLICKFIX must be a dict, got {type(value).__name__}.")
        unknown = set(value) - set(SETTINGS)
        if unknown:
            named = ", ".join(_with_suggestion(key) for key in sorted(unknown, key=str))
            raise ImproperlyConfigured(
                f"Unknown SEECLICKFIX key(s): {named}. Known keys: {', '.join(SETTINGS)}."
            )
        return value

    def __getattr__(self, name: str) -> Any:
        spec = SETTINGS.get(name)
        if spec is None:
            raise AttributeError(name)
        return spec.validate(name, self._raw().get(name, spec.default))

    @property
    def base_url(self) -> str:
        """The SeeClickFix host root in use: BASE_URL, or the environment's host."""
        override = self.BASE_URL
        environment = self.ENVIRONMENT
        if override:
            return str(override)
        if environment not in ENVIRONMENT_HOSTS:
            raise ImproperlyConfigured(
                f"{_key('ENVIRONMENT')} is {environment!r}, which needs {_key('BASE_URL')} "
                f"(known environments without it: {', '.join(ENVIRONMENT_HOSTS)})."
            )
        return ENVIRONMENT_HOSTS[environment]

    def validate_all(self) -> None:
        """Read every key once so a bad value surfaces (used by the system checks)."""
        for name in SETTINGS:
            getattr(self, name)
        _ = self.base_url


app_settings = AppSettings()
