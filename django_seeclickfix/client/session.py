"""The one place every request to SeeClickFix goes through.

One ``requests.Session`` per :class:`ApiSession`. Each request:

- takes a unit of the shared rate budget first (every redirect hop too), and releases it when the
  response has been read (see ``ratelimit.py`` for why the finish time matters);
- has a connect timeout, a read timeout and a total deadline that covers the body, however
  slowly it arrives (a watchdog shuts the socket when the deadline passes);
- is streamed, and refused once the body passes ``MAX_RESPONSE_BYTES``;
- verifies TLS; follows redirects itself, on the same host only (never sending ``Authorization``
  anywhere else);
- carries the User-Agent SeeClickFix requires;
- is never retried here (Celery retries tasks); the client's single refresh-and-retry after an
  invalid token is the only exception and lives in ``client.py``.

A 429, and the 403 "Request forbidden by administrative rules.", pause the whole budget for the
``Retry-After`` and raise ``RateLimited`` / ``AbuseBlocked``. Transport failures become
``TransientError``. Every other status is returned for the caller to interpret.

Logs carry method, path, status, size and duration, never headers or bodies. Tokens are never
in URLs; form bodies (OAuth) are scrubbed from the ``requests`` objects kept on errors.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.structures import CaseInsensitiveDict

from ..exceptions import AbuseBlocked, APIError, RateLimited, TransientError
from . import defaults, parsing
from .auth import Credential
from .ratelimit import Budget

logger = logging.getLogger("django_seeclickfix.client")

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
CHUNK_SIZE = 64 * 1024
REDACTED = "[redacted]"
ABUSE_MARKER = "administrative rules"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret (token, password, code, client secret) blanked out."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact_value(value: Any, secrets: Iterable[str | None]) -> Any:
    """A parsed JSON body with every secret blanked out of its strings (keys too): some servers
    echo the bearer token in an error body, and error bodies end up on rows, pages and logs."""
    known = tuple(secrets)
    if not any(s and len(s) >= 4 for s in known):
        return value
    if isinstance(value, str):
        return redact(value, known)
    if isinstance(value, list):
        return [redact_value(item, known) for item in value]
    if isinstance(value, Mapping):
        return {redact_value(k, known): redact_value(v, known) for k, v in value.items()}
    return value


def parse_retry_after(value: str | None, default: float, now: datetime | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Missing, garbage, negative or absurd values give ``default``; a date in the past gives 1 s
    (the server did say to wait).
    """
    if value is None or not value.strip():
        return float(default)
    raw = value.strip()
    try:
        seconds = float(raw)
    except ValueError:
        when = parsing.http_date(raw)
        if when is None:
            return float(default)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
        return max(1.0, seconds) if seconds <= 86400 else float(default)
    if seconds != seconds or seconds < 0 or seconds > 86400:  # NaN, negative, > a day
        return float(default)
    return max(1.0, seconds)


@dataclass(frozen=True)
class HttpResponse:
    """A fully read response. ``response`` is the scrubbed ``requests.Response`` (for errors)."""

    method: str
    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes = field(repr=False)
    elapsed: float
    response: requests.Response | None = field(default=None, repr=False, compare=False)
    # What the request knew must not be echoed back (tokens, client secret, code).
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def path(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def json_or_none(self) -> Any:
        """The parsed body, or ``None`` when it is empty or not JSON (for error bodies)."""
        if not self.content.strip():
            return None
        try:
            return loads(self.content)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None

    def error_body(self) -> Any:
        """``json_or_none()`` with every secret the request knew blanked out: the only form of
        a body that may go into an error, a row, a page or a log."""
        return redact_value(self.json_or_none(), self.secrets)

    def json(self) -> Any:
        """The parsed body; a non-JSON or truncated body is a ``TransientError``."""
        try:
            return loads(self.content)
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            raise TransientError(
                f"SeeClickFix sent a body that is not JSON for {self.method} {self.path} "
                f"(status {self.status}, {len(self.content)} bytes).",
                status=self.status,
            ) from err


def loads(content: bytes | str) -> Any:
    """JSON as a database can store it.

    ``NaN`` and ``Infinity`` (Python's parser accepts them, JSON has none) read as ``null``.
    In strings and keys, NUL characters are dropped (PostgreSQL refuses them in text and
    ``jsonb``) and unpaired surrogates from ``\\udXXX`` escapes become U+FFFD (no database
    encodes them). Nesting too deep raises ``RecursionError``.
    """
    value = json.loads(content, parse_constant=_no_constant)
    raw = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
    lowered = raw.lower()
    return _storable(value) if b"\\u0000" in lowered or b"\\ud" in lowered else value


def _no_constant(name: str) -> None:
    return None


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        value = value.replace("\x00", "")
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
            value = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)
        return value
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


class _NoNetrc(requests.auth.AuthBase):
    """Stops requests from adding ``~/.netrc`` credentials; we set ``Authorization`` ourselves."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def same_site(original: str, target: str) -> bool:
    """Same host and port, and never a downgrade from https to http. http→https is allowed."""
    scheme, host, port = _origin(original)
    new_scheme, new_host, new_port = _origin(target)
    if host != new_host:
        return False
    if scheme == new_scheme:
        return port == new_port
    return scheme == "http" and new_scheme == "https" and port == 80 and new_port == 443


class ApiSession:
    """Transport shared by :class:`SeeClickFixClient` and :class:`OAuthClient`.

    Every argument left as ``None`` takes its value from ``SEECLICKFIX`` (or the documented
    default without Django settings). ``rate_limit_scope`` is ``"global"`` or ``"token"``.
    """

    def __init__(
        self,
        *,
        user_agent: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        deadline: float | None = None,
        max_bytes: int | None = None,
        budget: Budget | None = None,
        rate_limit_scope: str | None = None,
        retry_after_default: float | None = None,
        requests_session: requests.Session | None = None,
    ) -> None:
        self.user_agent = user_agent or defaults.user_agent()
        self.connect_timeout = float(connect_timeout or defaults.setting("CONNECT_TIMEOUT"))
        self.read_timeout = float(read_timeout or defaults.setting("READ_TIMEOUT"))
        self.deadline = float(deadline or defaults.setting("REQUEST_DEADLINE"))
        self.max_bytes = int(max_bytes or defaults.setting("MAX_RESPONSE_BYTES"))
        self.budget: Budget = budget if budget is not None else defaults.default_budget()
        self.rate_limit_scope = rate_limit_scope or defaults.setting("RATE_LIMIT_SCOPE")
        self.retry_after_default = float(
            retry_after_default
            or getattr(self.budget, "retry_after_default", None)
            or defaults.setting("RETRY_AFTER_DEFAULT")
        )
        self.session = requests_session or requests.Session()
        self.session.headers["User-Agent"] = self.user_agent
        self.session.headers["Accept"] = "application/json"
        self.session.verify = True
        self.session.max_redirects = MAX_REDIRECTS

    def __repr__(self) -> str:
        return f"ApiSession(user_agent={self.user_agent!r}, budget={self.budget!r})"

    def close(self) -> None:
        self.session.close()

    def budget_scope(self, credential: Credential | None) -> str:
        if self.rate_limit_scope == "token" and credential is not None:
            return credential.identity
        return "global" if self.rate_limit_scope != "token" else "anonymous"

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        credential: Credential | None = None,
        secrets: Iterable[str | None] = (),
    ) -> HttpResponse:
        """Send one request (following same-host redirects) and read its body."""
        explicit = tuple(s for s in secrets if s)
        all_secrets = explicit + (credential.secrets if credential else ())
        scope = self.budget_scope(credential)
        started = time.monotonic()
        deadline_at = started + self.deadline
        send_headers = dict(headers or {})
        if credential is not None:
            send_headers["Authorization"] = credential.header
        current_url, current_method = url, method.upper()
        current_params, current_data, current_json = params, data, json_body
        for _hop in range(MAX_REDIRECTS + 1):
            result = self._send_once(
                current_method,
                current_url,
                params=current_params,
                data=current_data,
                json_body=current_json,
                headers=send_headers,
                scope=scope,
                started=started,
                deadline_at=deadline_at,
                secrets=all_secrets,
                scrub_body=bool(explicit),
            )
            location = result.headers.get("Location")
            if result.status not in REDIRECT_STATUSES or not location:
                self._check_rate_limit(result, scope)
                return result
            target = urljoin(result.url, location)
            if not same_site(url, target):
                raise APIError(
                    f"SeeClickFix redirected {current_method} {result.path} to another host "
                    f"({urlsplit(target).hostname}); not followed, so no credentials left this "
                    "host.",
                    status=result.status,
                    response=result.response,
                )
            if result.status == 303 or (
                result.status in (301, 302) and current_method not in ("GET", "HEAD")
            ):
                # What browsers (and requests) do: the body is not sent again.
                current_method, current_data, current_json = "GET", None, None
            current_url, current_params = target, None
        raise TransientError(
            f"SeeClickFix redirected {method.upper()} {urlsplit(url).path} more than "
            f"{MAX_REDIRECTS} times."
        )

    # internals ---------------------------------------------------------------------------------

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        data: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str],
        scope: str,
        started: float,
        deadline_at: float,
        secrets: tuple[str | None, ...],
        scrub_body: bool,
    ) -> HttpResponse:
        path = urlsplit(url).path
        with self.budget.reserve(scope):
            remaining = deadline_at - time.monotonic()
            if remaining <= 0:
                raise TransientError(
                    f"{method} {path}: the request deadline of {self.deadline:g} s passed."
                )
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    json=json_body,
                    headers=dict(headers),
                    auth=_NoNetrc(),
                    timeout=(
                        min(self.connect_timeout, remaining),
                        min(self.read_timeout, remaining),
                    ),
                    allow_redirects=False,
                    stream=True,
                    verify=True,
                )
            except requests.Timeout as err:
                raise TransientError(
                    f"{method} {path}: SeeClickFix did not answer in time ({type(err).__name__})."
                ) from err
            except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
                # urllib3's own errors too: requests lets them through when it drains the body
                # of a redirect it was told not to follow, and that body is cut off.
                raise TransientError(
                    f"{method} {path}: could not reach SeeClickFix ({type(err).__name__}: "
                    f"{redact(str(err), secrets)})."
                ) from err
            try:
                content = self._read_body(response, method, path, deadline_at)
            finally:
                response.close()
        _scrub(response, body=scrub_body)
        elapsed = time.monotonic() - started
        result = HttpResponse(
            method=method,
            url=response.url or url,
            status=response.status_code,
            headers=CaseInsensitiveDict(response.headers),
            content=content,
            elapsed=elapsed,
            response=response,
            secrets=tuple(s for s in secrets if s),
        )
        logger.debug(
            "SeeClickFix %s %s -> %s (%d bytes, %.0f ms)",
            method,
            result.path,
            result.status,
            len(content),
            elapsed * 1000,
        )
        return result

    def _read_body(
        self, response: requests.Response, method: str, path: str, deadline_at: float
    ) -> bytes:
        if response.status_code in (204, 304) or method == "HEAD":
            # These never have a body (RFC 9112 §6.3), whatever framing headers say; reading
            # one would wait for bytes that never come.
            return b""
        declared = response.headers.get("Content-Length")
        if declared and declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise TransientError(
                f"{method} {path}: SeeClickFix announced a {int(declared)}-byte body, over the "
                f"limit of {self.max_bytes} bytes (SEECLICKFIX['MAX_RESPONSE_BYTES']).",
                status=response.status_code,
            )
        chunks: list[bytes] = []
        total = 0
        # A read blocks until a whole chunk (or the end) has arrived, and the read timeout only
        # bounds the gap between bytes, so a server dripping one byte at a time would hold the
        # read far past the deadline. The watchdog closes the socket when the deadline passes.
        watchdog = threading.Timer(max(0.0, deadline_at - time.monotonic()), _cut, (response,))
        watchdog.daemon = True
        watchdog.start()
        try:
            for chunk in response.iter_content(CHUNK_SIZE):
                total += len(chunk)
                if total > self.max_bytes:
                    raise TransientError(
                        f"{method} {path}: the response passed the limit of {self.max_bytes} "
                        "bytes (SEECLICKFIX['MAX_RESPONSE_BYTES']); stopped reading.",
                        status=response.status_code,
                    )
                if time.monotonic() > deadline_at:
                    raise TransientError(
                        f"{method} {path}: the body took longer than the request deadline of "
                        f"{self.deadline:g} s.",
                        status=response.status_code,
                    )
                chunks.append(chunk)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
            if time.monotonic() >= deadline_at:
                raise TransientError(
                    f"{method} {path}: the body took longer than the request deadline of "
                    f"{self.deadline:g} s; stopped reading.",
                    status=response.status_code,
                ) from err
            raise TransientError(
                f"{method} {path}: the response body was cut off ({type(err).__name__}).",
                status=response.status_code,
            ) from err
        finally:
            watchdog.cancel()
        return b"".join(chunks)

    def _check_rate_limit(self, result: HttpResponse, scope: str) -> None:
        abuse = result.status == 403 and _is_abuse_block(result)
        if result.status != 429 and not abuse:
            return
        wait = parse_retry_after(result.headers.get("Retry-After"), self.retry_after_default)
        self.budget.pause(wait, scope)
        if abuse:
            raise AbuseBlocked(
                "SeeClickFix blocked this client for exceeding its rate limit (Request "
                f"forbidden by administrative rules); every request waits {wait:.0f} s.",
                retry_after=wait,
                status=403,
            )
        raise RateLimited(
            f"SeeClickFix answered 429 Too Many Requests to {result.method} "
            f"{urlsplit(result.url).path}; every request waits {wait:.0f} s.",
            retry_after=wait,
            status=429,
        )


def _cut(response: requests.Response) -> None:
    """Shut the socket a body is being read from; the blocked read then fails at once."""
    connection = getattr(response.raw, "_connection", None) or getattr(
        response.raw, "connection", None
    )
    sock = getattr(connection, "sock", None)
    if sock is None:
        return  # nothing on the wire (a mocked or already finished response)
    with contextlib.suppress(OSError):  # already closed: the read has ended anyway
        sock.shutdown(socket.SHUT_RDWR)


def _is_abuse_block(result: HttpResponse) -> bool:
    body = result.json_or_none()
    message = body.get("message") if isinstance(body, Mapping) else None
    return isinstance(message, str) and ABUSE_MARKER in message.lower()


def _scrub(response: requests.Response, *, body: bool) -> None:
    """Remove credentials (and form bodies holding secrets, as OAuth's do) from the request kept
    on the response, which errors carry."""
    request = response.request
    if "Authorization" in request.headers:
        request.headers["Authorization"] = REDACTED
    if body and request.body:
        request.body = REDACTED
