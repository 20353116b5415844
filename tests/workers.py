"""A real Celery worker process for integration tests, on a real Redis and the test database.

Usage (PostgreSQL pass only; the test must use ``transaction=True`` so the worker sees its rows)::

    @pytest.mark.integration
    @pytest.mark.django_db(transaction=True)
    def test_something(scf_emulator_settings, scf_worker):
        sync_account.delay(account.pk)
        wait_for(lambda: synced(account), timeout=20, worker=scf_worker)

``scf_worker`` is a started worker with the defaults below; ``scf_worker_factory(**options)``
starts others (``concurrency``, ``pool``, ``visibility_timeout``, ``seeclickfix`` overrides,
``settings`` overrides). The handle has ``pid``, ``child_pids()``, ``kill()`` (SIGKILL the
whole worker: a crashed machine), ``kill_child()`` (SIGKILL one pool process: the OOM killer),
``stop()``, ``restart()`` and ``log()``. The factory also points this process at the same Redis
(broker and Django cache) and the same ``SEECLICKFIX``, so ``.delay()`` here reaches the worker.

Why prefork: it is Celery's default and what production runs; it is the only pool where the
hard time limit is enforced and where ``reject_on_worker_lost`` applies (a killed pool process
makes the main process requeue the message at once). ``pool="solo"`` is available for tests
that want one process.

What a test may rely on: a Redis flushed before the worker starts; Celery settings as
recommended in ``docs/jobs.md`` (``acks_late`` tasks, prefetch multiplier 1, a visibility
timeout of ``visibility_timeout`` seconds); short task limits (``WORKER_SEECLICKFIX``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.servers import RedisServer, ServerUnavailable

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")

# Short limits so that retries and leases play out within a test.
WORKER_SEECLICKFIX: dict[str, Any] = {
    "TASK_TIME_LIMIT": 30,
    "TASK_SOFT_TIME_LIMIT": 25,
    "TASK_RETRY_BACKOFF_MAX": 5,
    "TASK_MAX_RETRIES": 10,
    "RATE_LIMIT_MAX_WAIT": 5.0,
    "RETRY_AFTER_DEFAULT": 2,
    "RATE_LIMIT_REQUESTS": 100000,
    "RATE_LIMIT_PERIOD": 1,
}


class WaitTimeout(AssertionError):
    pass


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str | None = None,
    worker: CeleryWorker | None = None,
) -> T:
    """Poll ``condition`` until it returns something truthy (returned), or fail after
    ``timeout`` seconds with ``what`` and the tail of ``worker``'s log."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            message = f"Timed out after {timeout:g} s waiting for {what or condition!r}."
            if worker is not None:
                message += f"\n--- worker log (tail) ---\n{worker.log()[-4000:]}"
            raise WaitTimeout(message)
        time.sleep(interval)


class CeleryWorker:
    """One ``celery worker`` subprocess (see the module docstring)."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        concurrency: int = 2,
        pool: str = "prefork",
        log_dir: Path,
        loglevel: str = "INFO",
    ) -> None:
        self.env = env
        self.concurrency = concurrency
        self.pool = pool
        self.loglevel = loglevel
        self.name = f"scf-test-{uuid.uuid4().hex[:8]}@%h"
        self.log_path = log_dir / f"{self.name.split('@')[0]}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.celery_app",
            "worker",
            "--pool",
            self.pool,
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            self.loglevel,
            "--hostname",
            self.name,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--prefetch-multiplier",
            "1",
        ]

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("The worker is not running.")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> CeleryWorker:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115  (handed to the child, closed below)
        try:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the children too
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while " ready." not in self.log(since_start=True):
            if self.process.poll() is not None:
                raise ServerUnavailable(
                    f"The Celery worker exited with status {self.process.returncode} on "
                    f"start:\n{self.log(since_start=True)[-4000:]}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise ServerUnavailable(
                    f"The Celery worker was not ready in {timeout:g} s:\n"
                    f"{self.log(since_start=True)[-4000:]}"
                )
            time.sleep(0.05)
        if self.pool == "prefork":
            wait_for(
                lambda: len(self.child_pids()) >= self.concurrency,
                timeout=timeout,
                what="the worker's pool processes",
            )
        return self

    def log(self, since_start: bool = False) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as handle:
            if since_start:
                handle.seek(self._log_offset)
            return handle.read().decode("utf-8", errors="replace")

    def child_pids(self) -> list[int]:
        """The pool processes (direct children of the main process), from ``/proc``."""
        if not self.running:
            return []
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                status = (entry / "status").read_text()
                ppid = next(
                    int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")
                )
                if ppid == self.pid:
                    children.append(int(entry.name))
        return sorted(children)

    def kill_child(self, pid: int | None = None) -> int:
        """SIGKILL one pool process (the only one, or ``pid``); the main process replaces it and
        requeues the message it was running (``reject_on_worker_lost``). Returns its pid."""
        children = self.child_pids()
        if pid is None:
            if len(children) != 1:
                raise RuntimeError(
                    f"kill_child() needs a pid when there are {len(children)} pool processes."
                )
            pid = children[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill(self) -> None:
        """SIGKILL the worker and its pool: nothing is acknowledged or cleaned up."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM: finish running tasks), then SIGKILL if it takes too long."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # stray pool processes

    def restart(self, *, kill: bool = True) -> CeleryWorker:
        """``kill()`` (or a warm ``stop()``) and start again with the same settings."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"<CeleryWorker {self.pool}x{self.concurrency} {state}>"


def database_url() -> str:
    """The test database as a URL the worker's settings understand (PostgreSQL only)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        raise ServerUnavailable(
            "A Celery worker needs the PostgreSQL test database (an in-memory SQLite database "
            "cannot be shared): run with --scf-db=postgres and mark the test integration."
        )
    params = connection.settings_dict
    return f"postgres://{params['USER']}@{params['HOST']}:{params['PORT']}/{params['NAME']}"


def worker_settings(
    redis: RedisServer,
    *,
    visibility_timeout: float,
    seeclickfix: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Django settings shared by this process and the worker (JSON-serialisable)."""
    from django.conf import settings

    scf = {
        **dict(getattr(settings, "SEECLICKFIX", {})),
        **WORKER_SEECLICKFIX,
        **(seeclickfix or {}),
    }
    transport: dict[str, Any] = {"visibility_timeout": visibility_timeout}
    if visibility_timeout < 60:
        # kombu looks for expired unacknowledged messages every 10 x 10 s by default: far too
        # slow for a test that waits for a redelivery.
        transport.update(unacked_restore_interval=1, unacked_restore_throttle=1)
    values: dict[str, Any] = {
        "CELERY_BROKER_URL": redis.url(0),
        "CELERY_RESULT_BACKEND": redis.url(1),
        "CELERY_BROKER_TRANSPORT_OPTIONS": transport,
        "CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS": {"retry_policy": {"timeout": 5.0}},
        "CELERY_WORKER_PREFETCH_MULTIPLIER": 1,
        "CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP": True,
        "CELERY_TASK_ALWAYS_EAGER": False,
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis.url(2),
            }
        },
        "SILENCED_SYSTEM_CHECKS": list(getattr(settings, "SILENCED_SYSTEM_CHECKS", [])),
        "SEECLICKFIX": scf,
        "SOCIALACCOUNT_PROVIDERS": dict(getattr(settings, "SOCIALACCOUNT_PROVIDERS", {})),
    }
    values.update(extra or {})
    return values


def _producer_app(values: dict[str, Any]) -> Any:
    """A Celery app for this process that sends to the worker's broker."""
    from celery import Celery

    app = Celery("scf-tests-producer", set_as_current=False)
    app.conf.update(
        broker_url=values["CELERY_BROKER_URL"],
        result_backend=values["CELERY_RESULT_BACKEND"],
        broker_transport_options=values["CELERY_BROKER_TRANSPORT_OPTIONS"],
        broker_connection_retry_on_startup=True,
    )
    return app


@pytest.fixture
def scf_worker_factory(
    request: pytest.FixtureRequest, redis_server: RedisServer, transactional_db: None
) -> Iterator[Callable[..., CeleryWorker]]:
    """Start real Celery workers for this test; see the module docstring."""
    import redis
    from celery import _state
    from django.test import override_settings

    started: list[CeleryWorker] = []
    log_dir = Path(tempfile.mkdtemp(prefix="scf-worker-"))
    previous_app = _state.get_current_app()
    overrides: list[Any] = []
    producer: list[Any] = []

    def make(
        *,
        concurrency: int = 2,
        pool: str = "prefork",
        visibility_timeout: float = 30.0,
        seeclickfix: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        start: bool = True,
        loglevel: str = "INFO",
    ) -> CeleryWorker:
        values = worker_settings(
            redis_server,
            visibility_timeout=visibility_timeout,
            seeclickfix=seeclickfix,
            extra=settings,
        )
        if not started:
            redis.Redis.from_url(redis_server.url(0)).flushall()
        # This process uses the same broker, cache and SEECLICKFIX as the worker.
        override = override_settings(**values)
        override.enable()
        overrides.append(override)
        from django.core.cache import caches

        caches["default"].clear()
        app = _producer_app(values)
        app.set_current()
        producer.append(app)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "SCF_TEST_DATABASE_URL": database_url(),
            "SCF_WORKER_SETTINGS": json.dumps(values),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("COV_CORE_SOURCE", None)
        worker = CeleryWorker(
            env=env, concurrency=concurrency, pool=pool, log_dir=log_dir, loglevel=loglevel
        )
        started.append(worker)
        return worker.start() if start else worker

    try:
        yield make
    finally:
        for worker in started:
            worker.stop()
        for app in producer:
            app.close()
        previous_app.set_current()
        for override in reversed(overrides):
            override.disable()
        if request.session.testsfailed == 0:
            import shutil

            shutil.rmtree(log_dir, ignore_errors=True)


@pytest.fixture
def scf_worker(scf_worker_factory: Callable[..., CeleryWorker]) -> CeleryWorker:
    """A started prefork worker with two pool processes (see the module docstring)."""
    return scf_worker_factory()


__all__ = [
    "WORKER_SEECLICKFIX",
    "CeleryWorker",
    "WaitTimeout",
    "database_url",
    "scf_worker",
    "scf_worker_factory",
    "wait_for",
    "worker_settings",
]
