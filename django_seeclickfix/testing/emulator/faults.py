"""Fault injection: make chosen requests fail in the ways real networks and servers fail.

A fault matches a path regex (and optionally a method) and fires ``count`` times (or forever),
on every matching request or, with ``probability``, on that share of them (drawn from the
fault list's own seeded generator: ``Faults(seed=...)`` or ``faults.seed(n)`` makes a run
repeatable).
Faults that replace the answer (``error``, ``status``, ``rate_limit``, ``redirect``, ``reset``)
fire before the request is processed, so nothing changes on the server, unless
``after_processing=True`` (the change happens, the client still sees the failure: the case that
tests idempotency). Faults that spoil delivery (``latency``, ``truncate``, ``malformed_json``,
``slow_drip``, ``oversized``) always let the request run and then damage the real answer.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .http import Delivery, Response, json_response
from .timefmt import http_date

KINDS: dict[str, str] = {
    "latency": "delay the answer by `delay` seconds, or a random time in [min_delay, max_delay]",
    "error": "answer `status` (default 500) with `body` (default '500 Server Error')",
    "status": "answer any `status` with `body` (text or JSON) and `headers`",
    "reset": "reset the TCP connection (RST) without answering",
    "truncate": "declare the full Content-Length, send `send_bytes` (default half), close",
    "malformed_json": "answer 200 with a body that is not valid JSON",
    "slow_drip": "send the real body `chunk_size` bytes every `interval` seconds",
    "oversized": "answer with a `size`-byte body (default 16 MiB); `chunked` to omit the length",
    "rate_limit": "answer 429 with Retry-After as `retry_after` seconds or an HTTP date "
    "(`retry_after_format`: seconds, http-date, none, garbage)",
    "redirect": "answer `status` (default 302) with Location: `location`",
}
BEFORE_KINDS = frozenset({"error", "status", "reset", "rate_limit", "redirect"})


@dataclass
class Fault:
    id: int
    path: str
    kind: str
    count: int | None = None  # None: fires on every matching request
    method: str | None = None
    after_processing: bool = False
    probability: float | None = None  # None: every matching request
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown fault kind {self.kind!r}; known: {', '.join(KINDS)}.")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be a positive number of requests, or None for all.")
        if self.probability is not None and not 0 < self.probability <= 1:
            raise ValueError("probability must be in (0, 1], or None for every request.")
        self._pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        if self.exhausted:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        assert self._pattern is not None
        return self._pattern.search(path) is not None

    @property
    def replaces_answer(self) -> bool:
        return self.kind in BEFORE_KINDS

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "kind": self.kind,
            "count": self.count,
            "method": self.method,
            "after_processing": self.after_processing,
            "probability": self.probability,
            "params": self.params,
            "fired": self.fired,
        }


class Faults:
    """The fault list. ``add`` returns the ``Fault``; first match in insertion order fires."""

    def __init__(self, seed: int = 0) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def seed(self, seed: int) -> None:
        """Restart the generator that decides probabilistic faults (and random latencies)."""
        with self._lock:
            self._random.seed(seed)

    def add(
        self,
        path: str,
        kind: str,
        *,
        count: int | None = None,
        method: str | None = None,
        after_processing: bool = False,
        probability: float | None = None,
        **params: Any,
    ) -> Fault:
        fault = Fault(
            id=next(self._ids),
            path=path,
            kind=kind,
            count=count,
            method=method,
            after_processing=after_processing,
            probability=probability,
            params=params,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault_id: int) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if f.id != fault_id]

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The first live fault for this request, counted as fired."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                if fault.probability is not None and self._random.random() >= fault.probability:
                    continue  # spared this time; a later fault may still match
                fault.fired += 1
                return fault
        return None

    def __len__(self) -> int:
        return len(self._faults)

    # what a fault does -----------------------------------------------------------------------

    def answer(self, fault: Fault, now: datetime) -> Response:
        """The response of a fault that replaces the real answer."""
        p = fault.params
        if fault.kind == "reset":
            return Response(status=200, delivery=Delivery("reset"))
        if fault.kind == "rate_limit":
            seconds = int(p.get("retry_after", 30))
            fmt = p.get("retry_after_format", "seconds")
            headers: list[tuple[str, str]] = []
            if fmt == "seconds":
                headers.append(("Retry-After", str(seconds)))
            elif fmt == "http-date":
                headers.append(("Retry-After", http_date(now + timedelta(seconds=seconds))))
            elif fmt == "garbage":
                headers.append(("Retry-After", "soon-ish"))
            return json_response(
                {
                    "message": "Too Many Requests",
                    "documentation_url": "https://dev.seeclickfix.com",
                },
                status=429,
                headers=headers,
            )
        if fault.kind == "redirect":
            return Response(
                status=int(p.get("status", 302)),
                headers=[("Location", str(p["location"]))],
            )
        status = int(p.get("status", 500))
        body = p.get("body", "500 Server Error" if fault.kind == "error" else "")
        extra = [(str(k), str(v)) for k, v in dict(p.get("headers", {})).items()]
        if isinstance(body, dict | list):
            return json_response(body, status=status, headers=extra)
        return Response(
            status=status,
            body=str(body).encode(),
            headers=[("Content-Type", "text/plain; charset=utf-8"), *extra],
        )

    def spoil(self, fault: Fault, response: Response) -> Response:
        """Damage a real response on its way out."""
        p = fault.params
        if fault.kind == "latency":
            if "delay" in p:
                response.delay = float(p["delay"])
            else:
                low, high = float(p.get("min_delay", 0.0)), float(p.get("max_delay", 1.0))
                with self._lock:
                    response.delay = self._random.uniform(low, high)
        elif fault.kind == "truncate":
            response.delivery = Delivery("truncate", {"send_bytes": p.get("send_bytes")})
            if response.delivery.params["send_bytes"] is None:
                response.delivery.params["send_bytes"] = len(response.body) // 2
        elif fault.kind == "malformed_json":
            custom = p.get("body")
            if custom is not None:
                response.body = custom if isinstance(custom, bytes) else str(custom).encode()
            else:
                # Half of a JSON object or array never parses: its brackets do not close.
                text = response.body or b'{"id":1}'
                response.body = text[: max(1, len(text) // 2)]
            response.status = int(p.get("status", 200))
            response.set_header("Content-Type", "application/json; charset=utf-8")
        elif fault.kind == "slow_drip":
            response.delivery = Delivery(
                "drip",
                {"chunk_size": p.get("chunk_size", 1), "interval": p.get("interval", 0.1)},
            )
        elif fault.kind == "oversized":
            response.status = 200
            response.set_header("Content-Type", "application/json; charset=utf-8")
            response.delivery = Delivery(
                "stream",
                {"size": int(p.get("size", 16 * 1024 * 1024)), "chunked": p.get("chunked", False)},
            )
        return response
