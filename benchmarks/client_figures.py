"""Figures of the SeeClickFix client, measured against the emulator running in its own process.

    .venv/bin/python benchmarks/client_figures.py                  # all figures
    .venv/bin/python benchmarks/client_figures.py --requests 1000  # more samples for overhead
    .venv/bin/python benchmarks/client_figures.py --redis redis://127.0.0.1:6379/5

1. **Client overhead**: CPU time this process spends per ``GET /api/v2/profile`` through
   ``SeeClickFixClient.get_profile()`` (rate budget, redirects handling, size cap, parsing into a
   ``Profile``) divided by the same request through a bare ``requests.Session`` (headers set,
   ``.json()``). CPU time, not wall time: the emulator's own time is not ours. Rounds alternate
   between the two to cancel drift; the median round counts.
2. **Iteration memory**: peak Python heap (``tracemalloc``) while iterating ``iter_my_issues()``
   over a user with 20,000 issues, divided by the same for 200 issues. Pages are walked lazily,
   so the ratio should stay near 1.
3. **Budget efficiency**: threads (sharing a Redis budget when ``--redis`` is given) spending
   the budget as fast as it allows; requests achieved divided by the limit, and the most
   requests any window of the period could have seen (must not exceed the limit).

Each figure is an importable function; the later benchmark suite reuses them.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from common import generate_issues, ref, remote, running_emulator, traced_peak

from django_seeclickfix.client import (
    BearerAuth,
    MemoryEtagStore,
    MemoryStore,
    RateBudget,
    SeeClickFixClient,
)
from django_seeclickfix.client.defaults import DEFAULT_USER_AGENT
from django_seeclickfix.client.ratelimit import Budget, BudgetStore


def fast_budget() -> RateBudget:
    """A real budget (same code path as production) whose limit never makes anyone wait."""
    return RateBudget(10**9, 60, store=MemoryStore())


# 1. overhead ------------------------------------------------------------------------------


@dataclass
class Overhead:
    bare_cpu_ms: float
    client_cpu_ms: float
    bare_wall_ms: float
    client_wall_ms: float

    @property
    def ratio(self) -> float:
        return self.client_cpu_ms / self.bare_cpu_ms


def client_overhead(base_url: str, token: str, *, requests: int = 500, rounds: int = 5) -> Overhead:
    """CPU and wall time per ``/profile`` request: bare ``requests.Session`` vs the client."""
    import requests as http

    url = f"{base_url}/api/v2/profile"
    bare = http.Session()
    bare.headers.update(
        {
            "User-Agent": DEFAULT_USER_AGENT,
            "Accept": "application/json",
            "Authorization": f"Bearer {token}",
        }
    )
    client = SeeClickFixClient(
        base_url, BearerAuth(token), budget=fast_budget(), etag_store=MemoryEtagStore()
    )

    def bare_call() -> None:
        response = bare.get(url, timeout=(5, 30))
        response.raise_for_status()
        response.json()

    def client_call() -> None:
        client.get_profile()

    per_round = max(1, requests // rounds)
    for _ in range(20):  # warm both connection pools and caches
        bare_call()
        client_call()
    samples: dict[str, list[tuple[float, float]]] = {"bare": [], "client": []}
    for _ in range(rounds):
        for name, call in (("bare", bare_call), ("client", client_call)):
            gc.collect()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(per_round):
                call()
            samples[name].append(
                ((time.process_time() - cpu) / per_round, (time.perf_counter() - wall) / per_round)
            )
    bare.close()
    client.close()

    def median(name: str, index: int) -> float:
        return statistics.median(s[index] for s in samples[name]) * 1000

    return Overhead(median("bare", 0), median("client", 0), median("bare", 1), median("client", 1))


# 2. memory --------------------------------------------------------------------------------


def user_with_issues(base_url: str, count: int) -> str:
    """A new emulator user reporting ``count`` issues; returns a token for them."""
    emulator = remote(base_url)
    stamp = time.monotonic_ns()
    user = emulator.add_user(f"Bench {count}", f"bench-{count}-{stamp}@example.com")
    user_id = ref(user)
    generate_issues(emulator, user_id, count)
    return str(emulator.issue_token(user_id).access_token)


def iteration_peak_bytes(
    base_url: str, token: str, budget: Callable[[], Budget] = fast_budget
) -> tuple[int, int]:
    """(issues seen, peak heap bytes above the starting point) while iterating them all.

    ``budget`` makes the client's rate budget. The default keeps its tickets in this process
    (a few hundred bytes per request, for an hour): pass one on Redis, as in production, to
    measure the walk alone."""
    client = SeeClickFixClient(
        base_url, BearerAuth(token), budget=budget(), etag_store=MemoryEtagStore()
    )
    client.get_profile()  # connection and imports warm, outside the measurement
    try:
        return traced_peak(lambda: sum(1 for _issue in client.iter_my_issues()))
    finally:
        client.close()


@dataclass
class MemoryFigure:
    small_count: int
    small_peak: int
    large_count: int
    large_peak: int

    @property
    def ratio(self) -> float:
        return self.large_peak / self.small_peak


def iteration_memory(
    base_url: str,
    *,
    small: int = 200,
    large: int = 20_000,
    budget: Callable[[], Budget] = fast_budget,
) -> MemoryFigure:
    small_seen, small_peak = iteration_peak_bytes(
        base_url, user_with_issues(base_url, small), budget
    )
    large_seen, large_peak = iteration_peak_bytes(
        base_url, user_with_issues(base_url, large), budget
    )
    if (small_seen, large_seen) != (small, large):
        raise RuntimeError(f"iterated {small_seen} and {large_seen} issues, not {small}/{large}")
    return MemoryFigure(small, small_peak, large, large_peak)


# 3. budget --------------------------------------------------------------------------------


@dataclass
class BudgetFigure:
    limit: int
    period: float
    sent: int
    elapsed: float
    most_in_a_window: int

    @property
    def efficiency(self) -> float:
        # After the first burst of ``limit``, each further ``limit`` requests need one period.
        return (self.sent - self.limit) / self.limit * self.period / self.elapsed


def worst_window(intervals: list[tuple[float, float]], period: float) -> int:
    """The most requests that could have reached the server within one window of ``period``.

    A request arrives somewhere between taking its unit and finishing. Some window holds a set
    of them iff one ending at the latest start of the set does, so for each request count those
    that started no later and finished less than a period before it started.
    """
    return max(
        (
            sum(1 for began, ended in intervals if began <= start and ended > start - period)
            for start, _ in intervals
        ),
        default=0,
    )


def budget_efficiency(
    *,
    limit: int = 20,
    period: float = 2.0,
    workers: int = 4,
    windows: int = 5,
    store: BudgetStore | None = None,
    hold: float = 0.002,
) -> BudgetFigure:
    """Workers spend the budget as fast as it allows for ``windows`` periods after the first
    burst; each "request" holds its unit for up to ``hold`` seconds, like a fast HTTP call."""
    budget = RateBudget(
        limit,
        period,
        store=store or MemoryStore(),
        max_wait=period * 3,
        key_prefix=f"bench:{time.monotonic_ns()}",
    )
    total = limit * (windows + 1)
    counter = iter(range(total))
    lock = threading.Lock()
    intervals: list[tuple[float, float]] = []

    def work() -> None:
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            reservation = budget.reserve()
            began = time.time()
            time.sleep(hold)
            ended = time.time()
            reservation.release()
            with lock:
                intervals.append((began, ended))

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts = sorted(a for a, _ in intervals)
    return BudgetFigure(
        limit, period, len(intervals), starts[-1] - starts[0], worst_window(intervals, period)
    )


def redis_store(url: str) -> BudgetStore:
    """A ``DjangoCacheStore`` on Redis (configures minimal Django settings if needed)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            CACHES={
                "default": {
                    "BACKEND": "django.core.cache.backends.redis.RedisCache",
                    "LOCATION": url,
                }
            },
            USE_TZ=True,
        )
        django.setup()
    from django_seeclickfix.client import DjangoCacheStore

    return DjangoCacheStore("default")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per side (overhead)")
    parser.add_argument("--large", type=int, default=20_000, help="issues in the large run")
    parser.add_argument("--small", type=int, default=200, help="issues in the small run")
    parser.add_argument("--redis", default=None, help="Redis URL for the budget figure")
    args = parser.parse_args(argv)
    with running_emulator() as base_url:
        token = str(remote(base_url).issue_token("rita@example.com").access_token)
        overhead = client_overhead(base_url, token, requests=args.requests)
        print(
            f"client overhead: {overhead.client_cpu_ms:.3f} ms CPU per request vs "
            f"{overhead.bare_cpu_ms:.3f} ms for a bare requests.Session "
            f"-> ratio {overhead.ratio:.2f} "
            f"(wall {overhead.client_wall_ms:.2f} vs {overhead.bare_wall_ms:.2f} ms)"
        )
        memory = iteration_memory(base_url, small=args.small, large=args.large)
        print(
            f"iteration memory: peak {memory.large_peak / 1024:.0f} KiB for {memory.large_count} "
            f"issues vs {memory.small_peak / 1024:.0f} KiB for {memory.small_count} "
            f"-> ratio {memory.ratio:.2f}"
        )
    store = redis_store(args.redis) if args.redis else None
    figure = budget_efficiency(store=store)
    print(
        f"budget ({'Redis' if args.redis else 'in-process'} store, {figure.limit} per "
        f"{figure.period:g} s, 4 threads): {figure.efficiency:.1%} of the limit used; at most "
        f"{figure.most_in_a_window} requests could share one window"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
