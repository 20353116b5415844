"""What reached the emulator, for tests to assert on. Secrets never enter it.

Each entry keeps method, path, query (secret-bearing parameters replaced by ``[redacted]``), the
kind of credentials sent (``bearer``, ``basic``, ``none``), which token record or user they
resolved to (ids, never the token), the status and the time. Counters sum things tests often
ask about, such as token-endpoint calls by grant type.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

REDACTED = "[redacted]"
SECRET_PARAMETERS = frozenset(
    {
        "access_token",
        "refresh_token",
        "token",
        "code",
        "code_verifier",
        "code_challenge",  # with the plain method it is the verifier itself
        "client_secret",
        "password",
        "authenticity_token",
    }
)


def _redact_value(value: str) -> str:
    # A URL carried in a parameter (the sign-in page's return_to) has a query of its own.
    path, sep, query = value.partition("?")
    if not sep:
        return value
    inner = redact(dict(parse_qsl(query, keep_blank_values=True)))
    return f"{path}?{urlencode(inner, safe='[]/:')}"


def redact(params: dict[str, str]) -> dict[str, str]:
    return {
        k: (REDACTED if k.lower() in SECRET_PARAMETERS else _redact_value(v))
        for k, v in params.items()
    }


@dataclass(frozen=True)
class LoggedRequest:
    seq: int
    timestamp: float
    method: str
    path: str
    query: dict[str, str]
    auth: str  # "bearer", "basic", "none"
    status: int
    user_id: int | None = None
    token_id: int | None = None
    client_id: str | None = None
    grant_type: str | None = None
    fault: str | None = None
    client_address: str = ""
    user_agent: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    def __init__(self, size: int = 10_000) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=size)
        self._counters: Counter[str] = Counter()
        self._seq = 0
        self._lock = threading.Lock()
        # called with each new entry (the command line prints them with --log-requests)
        self.listener: Callable[[LoggedRequest], None] | None = None

    def record(self, **fields: Any) -> LoggedRequest:
        with self._lock:
            self._seq += 1
            entry = LoggedRequest(seq=self._seq, **fields)
            self._entries.append(entry)
        if self.listener is not None:
            self.listener(entry)
        return entry

    def count(self, *names: str) -> None:
        with self._lock:
            for name in names:
                self._counters[name] += 1

    def entries(
        self,
        *,
        path: str | None = None,
        method: str | None = None,
        since: int = 0,
    ) -> list[LoggedRequest]:
        """Logged requests, oldest first; ``path`` is a prefix; ``since`` a sequence number."""
        with self._lock:
            items = list(self._entries)
        return [
            e
            for e in items
            if e.seq > since
            and (path is None or e.path.startswith(path))
            and (method is None or e.method == method.upper())
        ]

    @property
    def last_seq(self) -> int:
        return self._seq

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counters.clear()

    def __len__(self) -> int:
        return len(self._entries)
