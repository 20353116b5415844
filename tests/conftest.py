"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from celery.signals import before_task_publish

from tests.celery_app import app as celery_app

# The real-worker harness: scf_worker, scf_worker_factory (see tests/workers.py).
from tests.workers import scf_worker, scf_worker_factory  # noqa: F401

# Tasks queued in this process go through the test app (the memory:// broker), never through
# Celery's default app and its AMQP broker, whichever test directory runs alone.
assert celery_app.main == "scf_tests"


@pytest.fixture
def published() -> Iterator[list[tuple[str, list[Any]]]]:
    """The tasks sent to the broker (the tests' ``memory://`` one): [(task name, args)]."""
    sent: list[tuple[str, list[Any]]] = []

    def record(sender: str | None = None, body: Any = None, **kwargs: Any) -> None:
        sent.append((str(sender), list(body[0])))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Queued tasks run at once in this process (``task_always_eager``), retries included
    (their countdowns are not waited for); a task that fails for good does not raise."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = previous


class FormEndpoint:
    """A mocked form-encoded endpoint (``responses``) that keeps each request's form as it was
    sent (the client redacts what ``responses`` records afterwards) and answers ``statuses`` in
    turn, then 200."""

    def __init__(self, rsps: Any, url: str, statuses: Iterable[int] = ()) -> None:
        self.statuses = list(statuses)
        self.forms: list[dict[str, str]] = []
        rsps.add_callback("POST", url, callback=self)

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        self.forms.append({k: v[0] for k, v in parse_qs(body).items()})
        status = self.statuses.pop(0) if self.statuses else 200
        return status, {"Content-Type": "application/json"}, "{}"
