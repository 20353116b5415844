"""The error tree. Every failure that reaches a caller is one of these, or ImproperlyConfigured.

Messages never contain tokens or passwords: they are built from status codes, field names and
SeeClickFix's own error texts, and ``repr`` shows the class, the status and the message only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The longest error text stored on a row (``last_sync_error``, an action's ``error``...).
MAX_ERROR_LENGTH = 500

# Attributes that must not travel with a pickled error (Celery result backends, retries): the
# response holds the request, and the request holds the Authorization header.
_NOT_PICKLED = frozenset({"response"})


def _rebuild(cls: type[SeeClickFixError], state: dict[str, Any]) -> SeeClickFixError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class SeeClickFixError(Exception):
    """Root of everything this library raises about SeeClickFix."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # The subclasses take keyword-only arguments, which Exception's default pickling cannot
        # pass back; without this Celery would store them as a generic wrapper and lose the type.
        state = {k: None if k in _NOT_PICKLED else v for k, v in self.__dict__.items()}
        return (_rebuild, (type(self), state))

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class APIError(SeeClickFixError):
    """SeeClickFix answered with a 4xx or 5xx status that no narrower class describes.

    ``status`` is the HTTP status and ``body`` the parsed JSON body (or ``None`` when the body was
    empty or not JSON). ``response`` is the ``requests.Response`` when there was one; it is kept
    for debugging and is not part of ``str`` or ``repr``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: Any = None,
        response: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.response = response

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class ValidationError(APIError):
    """422: SeeClickFix refused the submitted fields.

    ``errors`` is always ``{field: [message, ...]}``, whichever of the three documented body
    shapes the server used.
    """

    def __init__(
        self,
        message: str,
        *,
        errors: Mapping[str, list[str]],
        status: int | None = 422,
        body: Any = None,
        response: Any = None,
    ) -> None:
        super().__init__(message, status=status, body=body, response=response)
        self.errors: dict[str, list[str]] = {key: list(value) for key, value in errors.items()}


class NotFound(APIError):
    """404: the issue, user or comment does not exist (or is not visible to this user)."""


class PermissionDenied(APIError):
    """403: the user is signed in but not allowed to do this (e.g. acknowledge as a resident)."""


class RateLimited(SeeClickFixError):
    """The shared request budget is exhausted, or SeeClickFix answered 429.

    ``retry_after`` is the number of seconds to wait before the next attempt.
    """

    def __init__(self, message: str, *, retry_after: float, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = max(0.0, float(retry_after))
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}(retry_after={self.retry_after!r}, message={self.message!r})"


class AbuseBlocked(RateLimited):
    """403 "Request forbidden by administrative rules.": SeeClickFix blocks a client that kept
    exceeding the rate limit. Everything pauses for ``retry_after`` seconds."""


class TransientError(SeeClickFixError):
    """Worth retrying later: 5xx, timeouts, connection resets, truncated or non-JSON bodies."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class SiteCacheUnavailable(TransientError):
    """This site's own cache (the rate budget's or the locks', ``SEECLICKFIX["RATE_LIMIT_CACHE"]``
    in ``CACHES``) failed, so nothing was sent to SeeClickFix. A fault of the site, not of
    SeeClickFix: background jobs retry it like any transient error, and a sign-in tells the user
    the site is at fault. ``alias`` is the cache alias that failed (``None`` for a store that is
    not one of Django's caches)."""

    def __init__(self, message: str, *, alias: str | None = None) -> None:
        super().__init__(message)
        self.alias = alias


class PageCapReached(TransientError):
    """A listing stopped answering past a page (SeeClickFix serves about 25 pages of one
    listing, whatever ``pages`` says) and the walk cannot go on by update time. Narrow the
    filters, or use ``iter_updates``/``issue_pages(updated_after=...)``, which resume past it."""


class ReauthRequired(SeeClickFixError):
    """The link cannot be used until its user connects SeeClickFix again.

    Raised for a revoked or expired token without a refresh token, ``invalid_grant`` on refresh, a
    second invalid-token answer after a refresh, and ``/profile`` answering ``{"id": null}`` to a
    request that sent credentials.
    """


class OAuthError(APIError):
    """The OAuth token endpoint refused a request (``invalid_client``, ``invalid_request``, ...).

    ``error`` is the OAuth error code. ``invalid_grant`` is raised as :class:`ReauthRequired`
    instead, because only the user can fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        error: str,
        status: int | None = None,
        body: Any = None,
        response: Any = None,
    ) -> None:
        super().__init__(message, status=status, body=body, response=response)
        self.error = error


class AccountUnavailable(ReauthRequired):
    """The account cannot act on SeeClickFix now: never linked, disconnected, its site user is
    deactivated, or it was linked against another SeeClickFix environment than the configured
    one. Nothing was sent to SeeClickFix and the account's status was not changed."""


class TokenDecryptionError(SeeClickFixError):
    """A stored token cannot be decrypted with any key in ``SEECLICKFIX["TOKEN_KEYS"]``.

    The ciphertext is never used as a token. Add the key that wrote it back to TOKEN_KEYS, or ask
    the user to reconnect.
    """


class LinkRefused(SeeClickFixError):
    """Linking stopped on purpose and nothing changed. ``code`` is one of the codes in
    :mod:`django_seeclickfix.errorcodes` (what a headless front end receives as ``?error=``);
    ``status`` is the HTTP status the OAuth views answer with."""

    def __init__(self, code: str, message: str = "", *, status: int = 409) -> None:
        super().__init__(message or code)
        self.code = code
        self.status = status


class ActionConflict(SeeClickFixError, ValueError):
    """A ``request_id`` was used again for a different action (a caller's mistake: nothing was
    queued)."""


class ActionInFlight(SeeClickFixError):
    """Another run holds the action's lease; try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Another run is posting this action; retry in {retry_after:.0f} s.")
        self.retry_after = retry_after


def error_text(error: BaseException, limit: int = MAX_ERROR_LENGTH) -> str:
    """A failure as stored on a row and shown to operators: its type and message (and a 422's
    field errors), cut to ``limit``. No secrets: error texts never hold tokens."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, ValidationError) and error.errors:
        fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(error.errors.items()))
        text = f"{text} ({fields})"
    return text[:limit]


__all__ = [
    "MAX_ERROR_LENGTH",
    "APIError",
    "AbuseBlocked",
    "AccountUnavailable",
    "ActionConflict",
    "ActionInFlight",
    "LinkRefused",
    "NotFound",
    "OAuthError",
    "PageCapReached",
    "PermissionDenied",
    "RateLimited",
    "ReauthRequired",
    "SeeClickFixError",
    "SiteCacheUnavailable",
    "TokenDecryptionError",
    "TransientError",
    "ValidationError",
    "error_text",
]
