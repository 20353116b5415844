"""Acting on SeeClickFix as a user from Celery: the base task class and its retry policy.

Every task of this library, and a host project's own tasks that call SeeClickFix, use
:class:`SeeClickFixTask`::

    from django_seeclickfix.task_base import seeclickfix_task

    @seeclickfix_task()
    def follow_my_issue(self, user_id: int, issue_id: int) -> None:
        self.client_for_user(user_id).follow(issue_id)

What the base class gives:

* ``acks_late`` with ``reject_on_worker_lost``: a task whose worker dies (SIGKILL, OOM) is
  delivered again, so task bodies must be idempotent (the library's are);
* soft and hard time limits from ``TASK_SOFT_TIME_LIMIT`` / ``TASK_TIME_LIMIT``;
* ``TransientError``, ``RateLimited`` and a soft time limit are retried up to
  ``TASK_MAX_RETRIES`` times: exponential backoff with jitter for the first, the server's (or
  the shared budget's) ``retry_after`` plus jitter for the second. A wait for this site's own
  budget is sent again without using up a retry: losing a race for budget is not a failure.
  No countdown is longer than ``TASK_RETRY_BACKOFF_MAX``, nor than the broker's visibility
  timeout minus the hard time limit (past it, Redis and SQS hand the unacknowledged message to a
  second worker);
* ``ReauthRequired`` is not retried: the token layer has already marked the account, and the
  task ends cleanly with ``None`` (override :meth:`SeeClickFixTask.on_reauth_required`);
* ``delay_on_commit`` (from Celery's Django task class): queue from views and signal handlers so
  a rolled-back transaction queues nothing.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from celery.exceptions import Retry, SoftTimeLimitExceeded
from django.contrib.auth import get_user_model

from .conf import app_settings
from .exceptions import AccountUnavailable, RateLimited, ReauthRequired, TransientError
from .models import SeeClickFixAccount
from .tokens import client_for_account, client_for_user

if TYPE_CHECKING:
    from celery import Celery
    from django.contrib.auth.models import AbstractBaseUser

    from .client import SeeClickFixClient

logger = logging.getLogger(__name__)

# First retry after a transient failure waits about this long; each further one doubles it.
BACKOFF_BASE = 2.0
# Visibility timeouts of the brokers that redeliver unacknowledged messages after one
# (kombu's defaults); other brokers (AMQP) have none.
DEFAULT_VISIBILITY_TIMEOUTS = {
    "redis": 3600.0,
    "rediss": 3600.0,
    "sentinel": 3600.0,
    "redis+socket": 3600.0,
    "sqs": 1800.0,
}
RETRYABLE: tuple[type[Exception], ...] = (TransientError, RateLimited, SoftTimeLimitExceeded)


def waits_for_budget(exc: BaseException) -> bool:
    """``exc`` is this site's own budget saying "not yet" (no answer of SeeClickFix's: a 429 or
    an abuse block carries its status)."""
    return isinstance(exc, RateLimited) and exc.status is None


F = TypeVar("F", bound=Callable[..., Any])


def broker_visibility_timeout(app: Celery) -> float | None:
    """Seconds the broker waits before redelivering an unacknowledged message, if it does."""
    options = app.conf.broker_transport_options or {}
    if options.get("visibility_timeout"):
        return float(options["visibility_timeout"])
    url = app.conf.broker_url or ""
    scheme = urlsplit(str(url).split(";")[0]).scheme.lower()
    return DEFAULT_VISIBILITY_TIMEOUTS.get(scheme)


def backoff_cap(app: Celery | None = None) -> float:
    """The longest countdown a retry may use (see the module docstring)."""
    cap = float(app_settings.TASK_RETRY_BACKOFF_MAX)
    visibility = broker_visibility_timeout(app) if app is not None else None
    if visibility is not None:
        cap = min(cap, visibility - app_settings.TASK_TIME_LIMIT)
    return max(1.0, cap)


def retry_countdown(
    exc: BaseException,
    retries: int,
    *,
    cap: float,
    rng: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds before retry number ``retries + 1`` after ``exc``.

    ``RateLimited``: its ``retry_after`` plus up to half as much again, so the tasks a pause
    stopped do not all come back in the same second. Anything else: "equal jitter" exponential
    backoff, between half and all of ``BACKOFF_BASE * 2**retries``.
    """
    if isinstance(exc, RateLimited):
        wait = max(1.0, exc.retry_after)
        delay = wait + rng(0.0, wait / 2)
    else:
        ceiling = min(cap, BACKOFF_BASE * (2 ** max(0, retries)))
        delay = ceiling / 2 + rng(0.0, ceiling / 2)
    return round(min(cap, max(1.0, delay)), 3)


class SeeClickFixTask(DjangoTask[Any, Any]):
    """Base class of every task that calls SeeClickFix (see the module docstring)."""

    acks_late = True
    reject_on_worker_lost = True

    # Read on every use (not at import) so override_settings and per-deployment settings work.
    # Read-only on purpose: options given to the task decorator (max_retries=3, time_limit=60)
    # become class attributes of the task and take precedence.
    @property
    def time_limit(self) -> int:  # type: ignore[override]
        return int(app_settings.TASK_TIME_LIMIT)

    @property
    def soft_time_limit(self) -> int:  # type: ignore[override]
        return int(app_settings.TASK_SOFT_TIME_LIMIT)

    @property
    def max_retries(self) -> int:  # type: ignore[override]
        return int(app_settings.TASK_MAX_RETRIES)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ReauthRequired as err:
            return self.on_reauth_required(err, args, kwargs)
        except RETRYABLE as err:
            if self.request.called_directly:
                raise  # a plain function call: nothing to retry through
            countdown = retry_countdown(err, self.request.retries, cap=backoff_cap(self.app))
            self.before_retry(countdown, args, kwargs)
            logger.info(
                "%s[%s] will retry in %.1f s after %s: %s",
                self.name,
                self.request.id,
                countdown,
                type(err).__name__,
                err,
            )
            if isinstance(err, RateLimited) and waits_for_budget(err) and not self.request.is_eager:
                raise self.wait_for_budget(err, countdown) from err
            raise self.retry(exc=err, countdown=countdown) from err

    def wait_for_budget(self, exc: RateLimited, countdown: float) -> Retry:
        """Send this task again in ``countdown`` seconds *without* using up a retry: it lost a
        race for this site's own budget (interactive work took it), which is no failure of the
        task, so it keeps trying until it gets its turn instead of retrying into failure."""
        again = self.signature_from_request(countdown=countdown, retries=self.request.retries)
        again.apply_async()
        return Retry(exc=exc, when=datetime.now(UTC) + timedelta(seconds=countdown), sig=again)

    def before_retry(self, countdown: float, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Called just before a retry is scheduled ``countdown`` seconds from now (the outbox
        tasks record it, so the sweeper does not take a waiting retry for a lost message)."""

    def on_reauth_required(
        self, exc: ReauthRequired, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """The account needs its user to connect again: end without retrying (result ``None``)."""
        logger.warning("%s[%s] stopped: %s", self.name, self.request.id, exc)
        return None

    # acting as a user ----------------------------------------------------------------------------

    def client_for_user(self, user: AbstractBaseUser | int) -> SeeClickFixClient:
        """A client acting as ``user`` (a user or its primary key) on SeeClickFix.

        Raises ``ReauthRequired`` (ends the task cleanly) when the user has no usable link.
        """
        if isinstance(user, int):
            found = get_user_model()._default_manager.filter(pk=user).first()
            if found is None:
                raise AccountUnavailable(f"User {user} does not exist any more.")
            user = found
        return client_for_user(user)

    def client_for_account(self, account: SeeClickFixAccount | int) -> SeeClickFixClient:
        """A client acting as a linked account (an account or its primary key)."""
        if isinstance(account, int):
            found = SeeClickFixAccount.objects.select_related("user").filter(pk=account).first()
            if found is None:
                raise AccountUnavailable(f"SeeClickFix account {account} does not exist any more.")
            account = found
        return client_for_account(account)


def seeclickfix_task(**options: Any) -> Callable[[F], F]:
    """``shared_task(bind=True, base=SeeClickFixTask, **options)``: the decorator for host tasks.

    The task function receives the task as its first argument (``self``), for
    ``self.client_for_user(...)``. Pass ids, never model instances.
    """
    options.setdefault("base", SeeClickFixTask)
    options.setdefault("bind", True)

    def decorate(func: F) -> F:
        return shared_task(**options)(func)  # type: ignore[no-any-return]

    return decorate


__all__ = [
    "SeeClickFixTask",
    "backoff_cap",
    "broker_visibility_timeout",
    "retry_countdown",
    "seeclickfix_task",
]
