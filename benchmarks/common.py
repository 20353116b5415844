"""What the benchmarks share: the servers they run against, Django on PostgreSQL, linked
accounts, real Celery workers, and reading the emulator's request log.

Everything runs on 127.0.0.1 and is torn down on exit: a throwaway PostgreSQL and Redis
(``tests/servers.py``), the emulator in its own process (so its CPU time and allocations are
never counted as ours), and prefork ``celery worker`` processes (``tests/workers.py``).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.servers import (  # noqa: E402
    PostgresServer,
    RedisServer,
    ServerUnavailable,
    free_port,
    wait_for_port,
)

T = TypeVar("T")
DATABASE = "scf"
# The settings every phase starts from (the worker's test defaults: a budget that never makes
# anyone wait, short task limits), plus a sync that re-reads the profile only when stale.
BASE_SEECLICKFIX: dict[str, Any] = {"RATE_LIMIT_MAX_WAIT": 30.0, "TASK_MAX_RETRIES": 10}


# the emulator -------------------------------------------------------------------------------


@contextmanager
def running_emulator(*extra: str) -> Iterator[str]:
    """The emulator in a subprocess (rate limit off until set); yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "django_seeclickfix.testing.emulator",
            "--port",
            str(port),
            "--rate-limit",
            "off",
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            wait_for_port(port, process, "the emulator")
        except ServerUnavailable as err:
            # Its output only once it has exited: reading a live process's pipe would block.
            exited = process.poll() is not None
            detail = process.stderr.read().decode() if exited and process.stderr else ""
            raise RuntimeError(f"the emulator did not start: {err} {detail}") from err
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def remote(base_url: str) -> Any:
    from django_seeclickfix.testing.emulator import RemoteEmulator

    return RemoteEmulator(base_url)


def ref(user: Any) -> Any:
    """An emulator user's id, whether the in-process or the remote API returned it."""
    return user["id"] if isinstance(user, dict) else user.id


def api_log(emulator: Any, since: int = 0) -> list[dict[str, Any]]:
    """The emulator's log of API calls (``/api/v2`` and ``/oauth``) after sequence ``since``."""
    return [
        entry
        for entry in emulator.requests(since=since)
        if entry["path"].startswith(("/api/", "/oauth/"))
    ]


def last_seq(emulator: Any) -> int:
    """The sequence number of the newest logged request (0 when the log is empty)."""
    entries = emulator.requests()
    return int(entries[-1]["seq"]) if entries else 0


# Django on PostgreSQL, Redis, workers ----------------------------------------------------------


def setup_django(database_url: str) -> None:
    """Create the database, point ``tests.settings`` at it, set Django up and migrate."""
    import psycopg

    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    os.environ["SCF_TEST_DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


@dataclass
class Stack:
    """The running servers, and the settings this process shares with its workers."""

    postgres: PostgresServer
    redis: RedisServer
    url: str
    emulator: Any
    values: dict[str, Any] = field(default_factory=dict)
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="scf-bench-")))
    _override: Any = None

    def configure(self, **seeclickfix: Any) -> dict[str, Any]:
        """Apply ``SEECLICKFIX`` overrides (on top of the base) to this process and to the
        workers started afterwards; returns the settings."""
        from django.test import override_settings

        from django_seeclickfix.testing.configure import emulator_settings
        from tests.workers import _producer_app, worker_settings

        if self._override is not None:
            self._override.disable()
        # Through override_settings, so Django and the app drop what they read before
        # (cache connections, SEECLICKFIX).
        with override_settings(**emulator_settings(self.url)):
            self.values = worker_settings(
                self.redis,
                visibility_timeout=3600,
                seeclickfix={**BASE_SEECLICKFIX, **seeclickfix},
            )
        self._override = override_settings(**self.values)
        self._override.enable()
        _producer_app(self.values).set_current()
        return self.values

    def flush_redis(self) -> None:
        """Empty the broker, the result backend and the cache (budget tickets, locks, ETags)."""
        import redis

        redis.Redis.from_url(self.redis.url(0)).flushall()

    @contextmanager
    def worker(self, concurrency: int) -> Iterator[Any]:
        """A prefork ``celery worker`` with ``concurrency`` pool processes on this stack's
        settings (as last configured), stopped on exit."""
        from tests.workers import CeleryWorker

        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SCF_TEST_DATABASE_URL": self.postgres.url,
            "SCF_WORKER_SETTINGS": json.dumps(self.values),
            "PYTHONUNBUFFERED": "1",
        }
        worker = CeleryWorker(
            env=env, concurrency=concurrency, log_dir=self.log_dir, loglevel="INFO"
        )
        worker.start()
        try:
            yield worker
        finally:
            worker.stop()


@contextmanager
def running_stack(*, seed: str = "empty", emulator_args: Sequence[str] = ()) -> Iterator[Stack]:
    """PostgreSQL, Redis and the emulator started, Django set up on them; all stopped on exit.
    ``emulator_args`` go to the emulator's command line (``--access-token-lifetime 360``)."""
    postgres = PostgresServer().start()
    redis_server: RedisServer | None = None
    try:
        redis_server = RedisServer().start()
        with running_emulator("--seed", seed, *emulator_args) as url:
            setup_django(postgres.url)
            stack = Stack(postgres, redis_server, url, remote(url))
            stack.configure()
            try:
                yield stack
            finally:
                stack.emulator.close()
    finally:
        if redis_server is not None:
            redis_server.stop()
        postgres.stop()


# linked accounts --------------------------------------------------------------------------------


def spaced_times(count: int, *, end: datetime | None = None) -> list[datetime]:
    """``count`` distinct update times a minute apart, the newest an hour before ``end``."""
    newest = (end or datetime.now(UTC)) - timedelta(hours=1)
    return [newest - timedelta(minutes=count - n) for n in range(count)]


def add_issues(emulator: Any, reporter: Any, count: int) -> list[int]:
    """``count`` issues by ``reporter`` with distinct, increasing update times (no ties)."""
    ids = []
    for stamp in spaced_times(count):
        issue = emulator.add_issue(
            ref(reporter), summary="Benchmark issue", created_at=stamp, updated_at=stamp
        )
        ids.append(int(ref(issue)))
    return ids


def generate_issues(emulator: Any, reporter_id: int, count: int) -> None:
    """``count`` generated issues by ``reporter_id``, asked for 5,000 at a time."""
    remaining = count
    while remaining:
        batch = min(remaining, 5000)
        emulator.generate_issues(reporter_id, batch)
        remaining -= batch


def link_accounts(
    emulator: Any, accounts: int, issues: int = 0, *, prefix: str = "bench"
) -> list[int]:
    """``accounts`` new emulator users, each with ``issues`` issues, linked to new site users;
    returns the account ids (never synced yet)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from django_seeclickfix.models import SeeClickFixAccount

    scf_users = emulator.generate_users(accounts, prefix=f"{prefix}{time.monotonic_ns()}")
    for scf_user in scf_users:
        if issues:
            add_issues(emulator, scf_user, issues)
    tokens = emulator.issue_tokens([ref(u) for u in scf_users])
    now = timezone.now()
    ids = []
    for scf_user, token in zip(scf_users, tokens, strict=True):
        user = get_user_model().objects.create_user(f"{prefix}-{ref(scf_user)}")
        account = SeeClickFixAccount.objects.create(
            user=user,
            environment="emulator",
            user_scf_id=ref(scf_user),
            access_token=token.access_token,
            refresh_token=token.refresh_token,
            expires_at=now + timedelta(seconds=token.expires_in or 7200),
        )
        ids.append(account.pk)
    return ids


def load_account(account_id: int) -> Any:
    from django_seeclickfix.models import SeeClickFixAccount

    return SeeClickFixAccount.objects.select_related("user").get(pk=account_id)


# rates ------------------------------------------------------------------------------------------


def utilisation(times: Sequence[float], limit: int, period: float) -> float:
    """How much of a sliding-window limit of ``limit`` per ``period`` a stream of requests
    (arrival times) used: ``period`` over the mean gap between each request and the one
    ``limit`` places before it.

    A window of ``period`` may hold ``limit`` requests, so a stream using all of the limit
    has every request exactly one period after the ``limit``-th one before it (1.0); more than
    1.0 means the limit was broken. Gaps between chain members are measured from each end of
    the stream, so neither the start-up (the first requests trickling out while the workers
    pick up their tasks) nor where the stream happens to stop counts as idle budget.
    """
    ordered = sorted(times)
    if len(ordered) <= limit:
        raise ValueError(f"need more than {limit} requests to measure a rate, got {len(ordered)}")
    # sum over i >= limit of (t[i] - t[i - limit]) telescopes to the last minus the first `limit`.
    total_gap = sum(ordered[-limit:]) - sum(ordered[:limit])
    return (len(ordered) - limit) * period / total_gap


def most_in_window(times: Iterable[float], period: float) -> int:
    """The most arrivals that one window of ``period`` seconds held (sliding)."""
    ordered = sorted(times)
    most = start = 0
    for end, stamp in enumerate(ordered):
        while ordered[start] <= stamp - period:
            start += 1
        most = max(most, end - start + 1)
    return most


def traced_peak(action: Callable[[], T]) -> tuple[T, int]:
    """``action``'s result and the peak of the Python heap above where it started, in bytes
    (``tracemalloc``: every allocation of this process, in any thread)."""
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = action()
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    return result, peak
