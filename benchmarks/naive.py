"""The naive approach the benchmarks compare the library with.

A naive sync of one user re-lists everything, every time: ``GET /api/v2/profile``, then every
page of ``GET /api/v2/profile/issues`` (all four statuses) at the default page size (no
``per_page``: 20 on SeeClickFix), with no cursor and no conditional requests. There is no
shared budget: each process sends as fast as it can and, when SeeClickFix answers 429, sleeps
for its ``Retry-After`` and sends the same request again. It stops when ``next_page`` does not
move on (SeeClickFix's page cap of 25 pages), so past 500 issues it reads 25 pages, not all.

    .venv/bin/python benchmarks/naive.py URL TOKEN     # one naive sync against an emulator
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from dataclasses import dataclass
from typing import Any

import requests

USER_AGENT = "naive-seeclickfix-sync/1.0"
STATUSES = "open,acknowledged,closed,archived"
MAX_ATTEMPTS = 100  # per request: a bound, so a broken server cannot keep a benchmark forever


@dataclass
class NaiveResult:
    """What naive syncs did: requests sent (429s included), 429s among them, issues read."""

    requests: int = 0
    responses_429: int = 0
    issues: int = 0
    accounts: int = 0

    def add(self, other: NaiveResult) -> None:
        self.requests += other.requests
        self.responses_429 += other.responses_429
        self.issues += other.issues
        self.accounts += other.accounts


class NaiveClient:
    """A bare ``requests.Session`` with the user's token; retries on 429 after Retry-After."""

    def __init__(self, base_url: str, token: str) -> None:
        self.api = f"{base_url.rstrip('/')}/api/v2"
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Authorization": f"Bearer {token}"})
        self.result = NaiveResult()

    def get(self, path: str, **params: Any) -> Any:
        for _ in range(MAX_ATTEMPTS):
            response = self.session.get(f"{self.api}{path}", params=params, timeout=(5, 30))
            self.result.requests += 1
            if response.status_code == 429:
                self.result.responses_429 += 1
                time.sleep(float(response.headers.get("Retry-After") or 1))
                continue
            response.raise_for_status()
            return response.json()
        raise RuntimeError(f"GET {path}: still 429 after {MAX_ATTEMPTS} attempts")

    def sync(self) -> NaiveResult:
        """Profile, then every page of the user's issues; returns this client's totals."""
        self.get("/profile")
        page: int | None = 1
        while page:
            body = self.get("/profile/issues", status=STATUSES, page=page)
            self.result.issues += len(body["issues"])
            following = body["metadata"]["pagination"]["next_page"]
            # Past SeeClickFix's page cap (the emulator's default: page 25 again, pointing on
            # to the same next page) a client that follows next_page asks the same page
            # forever; this one stops where the listing stops moving on.
            page = following if following and following > page else None
        self.result.accounts += 1
        return self.result

    def close(self) -> None:
        self.session.close()


def naive_sync(base_url: str, token: str) -> NaiveResult:
    client = NaiveClient(base_url, token)
    try:
        return client.sync()
    finally:
        client.close()


def _sync_all(job: tuple[str, list[str]]) -> NaiveResult:
    base_url, tokens = job
    total = NaiveResult()
    for token in tokens:
        total.add(naive_sync(base_url, token))
    return total


def naive_pass(base_url: str, tokens: list[str], processes: int) -> tuple[NaiveResult, float]:
    """Naive syncs of every token, spread over ``processes`` processes that share nothing;
    returns the totals and the wall time from the first process's start to the last's end."""
    shares = [tokens[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        started = time.perf_counter()
        results = pool.map(_sync_all, [(base_url, share) for share in shares])
        elapsed = time.perf_counter() - started
    total = NaiveResult()
    for result in results:
        total.add(result)
    return total, elapsed


if __name__ == "__main__":
    url, token = sys.argv[1:3]
    print(naive_sync(url, token))
