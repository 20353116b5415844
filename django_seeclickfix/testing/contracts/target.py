"""The server a contract runs against: its URLs, an HTTP session, and the credentials it has.

A :class:`Target` never shows a credential: ``repr`` hides them, and :meth:`Target.redact`
masks every secret it knows (plus anything that looks like a token in a URL or a header) in
what the contracts report.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

REDACTED = "[redacted]"
# Secrets that travel in URLs (redirects carry codes and implicit-flow tokens) and headers.
_SECRET_PATTERNS = (
    re.compile(
        r"((?:access_token|refresh_token|code|code_verifier|client_secret|token)=)[^&#\s\"']+"
    ),
    # A credential after the scheme; not a challenge's parameters (Bearer realm="...").
    re.compile(r"((?:Bearer|Basic)\s+)(?![A-Za-z_]+=\")[^\s\"',]+"),
    re.compile(r"(\"(?:access_token|refresh_token)\"\s*:\s*\")[^\"]+"),
)
# How long a contract waits out a 429 it did not ask for (a live host's limit), at most.
MAX_RETRY_AFTER = 65.0


class ServerControl(Protocol):
    """What a contract may switch at a server it controls (the emulator and its control API:
    ``Emulator`` and ``RemoteEmulator`` both qualify)."""

    def set_rate_limit(self, requests: int | None, period: float = 60, **options: Any) -> Any: ...

    def set_moderation(self, comments: bool | None = None, issues: bool | None = None) -> Any: ...


class Pace:
    """At most ``requests`` per ``period`` seconds (a sliding window), for a host with a rate
    limit and nothing else spending it: the live test host allows 20 a minute."""

    def __init__(self, requests: int, period: float) -> None:
        if requests < 1 or period <= 0:
            raise ValueError("a pace needs at least one request per positive period")
        self.requests, self.period = requests, period
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, text: str) -> Pace:
        """``"20/60"``: 20 requests per 60 seconds."""
        count, _, seconds = text.partition("/")
        try:
            return cls(int(count), float(seconds or 60))
        except ValueError:
            raise ValueError(f"a pace looks like 20/60 (requests/seconds), got {text!r}") from None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            now = time.monotonic()
            while self._sent and self._sent[0] <= now - self.period:
                self._sent.popleft()
            if len(self._sent) >= self.requests:
                wait = self._sent[0] + self.period - now
                time.sleep(max(0.0, wait))
                self._sent.popleft()
            self._sent.append(time.monotonic())
        yield


def _no_gate() -> AbstractContextManager[None]:
    return contextlib.nullcontext()


@dataclass(repr=False)
class Target:
    """One server, as the contracts see it.

    ``authorization`` is the ``Authorization`` header of a signed-in user (a bearer token or
    HTTP Basic); ``token`` is that user's bearer token when it is one (token info needs it);
    ``authorize(url, approve)`` plays a browser that signs in and approves (or denies) at the
    server and returns the URL it redirects back to; ``control`` switches the server's
    behaviour (rate limit, moderation); ``writable`` allows the writing contracts;
    ``gate()`` is entered around every request (a pace, or the site's shared rate budget).
    """

    name: str
    base_url: str
    session: requests.Session = field(default_factory=requests.Session)
    authorization: str | None = None
    token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    redirect_uri: str | None = None
    authorize: Callable[[str, bool], str | None] | None = None
    control: ServerControl | None = None
    writable: bool = False
    issue_id: int | None = None
    gate: Callable[[], AbstractContextManager[None]] = _no_gate
    timeout: float = 20.0
    secrets: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        for value in (self.authorization, self.token, self.client_secret):
            self.remember_secret(value)

    def __repr__(self) -> str:
        return f"Target({self.name!r}, {self.base_url!r}, capabilities={sorted(self.capabilities)})"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v2"

    @property
    def capabilities(self) -> frozenset[str]:
        have = set()
        if self.authorization:
            have.add("user")
        if self.token:
            have.add("bearer")
        if self.client_id and self.client_secret:
            have.add("client")
        if self.authorize and self.redirect_uri and "client" in have:
            have.add("browser")
        if self.control is not None:
            have.add("control")
        if self.writable:
            have.add("write")
        return frozenset(have)

    # secrets -----------------------------------------------------------------------------------

    def remember_secret(self, value: str | None) -> None:
        """From now on ``value`` (a token a contract minted, a code) is masked in reports."""
        if value:
            self.secrets.add(value)
            if " " in value:  # an Authorization header: its credential alone too
                self.secrets.add(value.split(" ", 1)[1])

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        return text

    # HTTP --------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        signed_in: bool = False,
        bearer: str | None = None,
        headers: dict[str, str] | None = None,
        wait_out_rate_limit: bool = True,
        **options: Any,
    ) -> requests.Response:
        """One request through the gate. ``signed_in`` sends the user's credentials, ``bearer``
        another token. A 429 nobody asked for is waited out once (a live host's limit is not
        what a contract is about)."""
        sent = dict(headers or {})
        if signed_in:
            if not self.authorization:
                raise RuntimeError(f"{self.name} has no signed-in user")
            sent["Authorization"] = self.authorization
        if bearer is not None:
            self.remember_secret(bearer)
            sent["Authorization"] = f"Bearer {bearer}"
        options.setdefault("timeout", self.timeout)
        options.setdefault("allow_redirects", False)
        with self.gate():
            response = self.session.request(method, url, headers=sent, **options)
        if response.status_code == 429 and wait_out_rate_limit:
            time.sleep(min(MAX_RETRY_AFTER, _retry_after(response)))
            with self.gate():
                response = self.session.request(method, url, headers=sent, **options)
        return response

    def api(self, method: str, path: str, **options: Any) -> requests.Response:
        """A request under ``/api/v2`` (redirects followed, as the library does)."""
        options.setdefault("allow_redirects", True)
        return self.request(method, self.api_url + path, **options)

    def get(self, path: str, **options: Any) -> requests.Response:
        return self.api("GET", path, **options)


def _retry_after(response: requests.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return 60.0


def body(response: requests.Response) -> Any:
    """The JSON body, or None when there is none or it does not parse."""
    try:
        return response.json()
    except ValueError:
        return None


def shown(response: requests.Response, limit: int = 160) -> str:
    """A response in a few words, for a report: ``404 {"message": "Not Found"}``."""
    parsed = body(response)
    text = (
        json.dumps(parsed, sort_keys=True)
        if parsed is not None
        else " ".join(response.text.split())
    )
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    where = response.headers.get("Location")
    return (
        f"{response.status_code}" + (f" to {where}" if where else "") + (f" {text}" if text else "")
    )
