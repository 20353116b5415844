"""SeeClickFix's documented limit: N requests per period per client, then 429 with Retry-After.

A sliding log, so the emulator is strict: no window of ``period`` seconds, however aligned, ever
admits more than ``requests`` requests. Clients that keep going while limited can be answered
403 "Request forbidden by administrative rules." (``abuse_after`` refused requests in a row),
until they have stayed quiet for one period.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

Scope = Literal["address", "token"]


@dataclass
class Verdict:
    allowed: bool
    status: int = 200  # 429 or 403 when refused
    retry_after: int = 0


@dataclass
class _Client:
    hits: deque[float] = field(default_factory=deque)
    refused_in_a_row: int = 0
    blocked_until: float = 0.0


class RateLimiter:
    def __init__(
        self,
        requests: int | None = 20,
        period: float = 60.0,
        scope: Scope = "address",
        abuse_after: int | None = None,
    ) -> None:
        self.configure(requests, period, scope, abuse_after)

    def configure(
        self,
        requests: int | None,
        period: float = 60.0,
        scope: Scope = "address",
        abuse_after: int | None = None,
    ) -> None:
        if requests is not None and requests < 1:
            raise ValueError("requests must be at least 1 (or None to switch the limit off)")
        if period <= 0:
            raise ValueError("period must be positive")
        if scope not in ("address", "token"):
            raise ValueError("scope must be 'address' or 'token'")
        self.requests = requests
        self.period = float(period)
        self.scope: Scope = scope
        self.abuse_after = abuse_after
        self._clients: dict[str, _Client] = {}

    @property
    def enabled(self) -> bool:
        return self.requests is not None

    def describe(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "requests": self.requests,
            "period": self.period,
            "scope": self.scope,
            "abuse_after": self.abuse_after,
        }

    def refund(self, key: str) -> None:
        """Give back the last counted request of ``key`` (a 304, when those are free)."""
        client = self._clients.get(key)
        if client is not None and client.hits:
            client.hits.pop()

    def check(self, key: str, now: float) -> Verdict:
        """Count one request from ``key`` at ``now`` if the limit allows it."""
        if self.requests is None:
            return Verdict(True)
        client = self._clients.setdefault(key, _Client())
        if client.blocked_until > now:
            # Still knocking: the block lasts until a full quiet period has passed.
            client.blocked_until = now + self.period
            return Verdict(False, 403, math.ceil(self.period))
        hits = client.hits
        while hits and hits[0] <= now - self.period:
            hits.popleft()
        if len(hits) < self.requests:
            hits.append(now)
            client.refused_in_a_row = 0
            return Verdict(True)
        client.refused_in_a_row += 1
        if self.abuse_after is not None and client.refused_in_a_row > self.abuse_after:
            client.blocked_until = now + self.period
            return Verdict(False, 403, math.ceil(self.period))
        wait = hits[0] + self.period - now
        return Verdict(False, 429, max(1, math.ceil(wait)))
