"""Reading the example site's configuration from environment variables.

Small on purpose: a database URL, a cache URL and a few typed values are all the site needs, so
it carries no extra dependency for them. ``docs/example.md`` lists every variable.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def text(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0 (true/false), got {raw!r}.")


def items(name: str, default: str = "") -> list[str]:
    """A comma-separated list; blanks dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def database(url: str, base: Path) -> dict[str, Any]:
    """``sqlite:///relative.sqlite3`` (to ``base``), ``sqlite:////absolute.sqlite3`` or
    ``postgres://user:password@host:port/name``."""
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:])  # "/rel" -> "rel", "//abs" -> "/abs"
        if not path:
            raise ImproperlyConfigured(f"DATABASE_URL {url!r} names no SQLite file.")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(base / path),
            "OPTIONS": {
                # Web server, worker and beat share the file: wait for a lock instead of failing,
                # and take the write lock at BEGIN so two writers never deadlock on an upgrade.
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": parts.port or "",
            "CONN_MAX_AGE": 60,
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL must start with sqlite:/// or postgres://, got scheme {parts.scheme!r}."
    )


def cache(url: str) -> dict[str, Any]:
    """``redis://host:port/db``, or ``db://table`` (Django's database cache, the default)."""
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss"):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    if parts.scheme == "db":
        table = parts.netloc or parts.path.strip("/") or "elmcity_cache"
        return {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": table}
    raise ImproperlyConfigured(
        f"CACHE_URL must start with redis:// or db://, got scheme {parts.scheme!r}. "
        "The cache holds the SeeClickFix rate budget, so it must be shared by every process."
    )


def secret_file(path: Path, make: Any) -> str:
    """The secret stored in ``path``, created once with ``make()`` (mode 0600).

    Several processes start at once (site, worker, beat): ``O_EXCL`` lets exactly one of them
    write the file, and the others read what it wrote.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _attempt in range(50):
            value = path.read_text().strip()
            if value:
                return value
            time.sleep(0.05)  # the creator is between open() and write()
        raise ImproperlyConfigured(f"{path} is empty; delete it to have a new one made.") from None
    value = str(make())
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
