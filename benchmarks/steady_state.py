"""The planner in its steady state, time-scaled (issue 17): a scaled hour of beat passes over
N linked accounts, real prefork Celery workers, Redis, PostgreSQL, the emulator's rate limit.

    .venv/bin/python benchmarks/steady_state.py                    # 2,000 accounts, ~4 minutes
    .venv/bin/python benchmarks/steady_state.py --accounts 10000 --period 3 --hours 1

Every duration is scaled by one factor ``f = period / 60``: SeeClickFix's limit of 20 requests
a minute becomes 20 per ``--period`` seconds (the emulator enforces it for 127.0.0.1 and the
library's ``RATE_LIMIT_PERIOD`` says the same), and the library's other times
(``SYNC_PASS_INTERVAL``, ``SYNC_INTERVAL``, ``SYNC_QUEUE_TIMEOUT``, ``PROFILE_MAX_AGE``,
``TOKEN_REFRESH_MARGIN``, ``RATE_LIMIT_MAX_WAIT``, ``RATE_LIMIT_LEASE``, the retry back-off, the
lock TTL) and the emulator's access-token lifetime (SeeClickFix's 7,200 s) are multiplied by
``f``. A scaled hour is ``3600 f`` real seconds (180 s at ``--period 3``).

The scene, as a site that has been running a while: ``--accounts`` linked accounts with one
issue each, last synced at times spread over one expected cycle (``N`` syncs at the budget's
rate), profiles read over the last ``PROFILE_MAX_AGE``, access tokens issued over the last
lifetime (the emulator's clock is moved between batches of links, so their remaining lifetimes
spread from 0 to the full lifetime). During the run ``--activity`` of the accounts report a new
issue, at even intervals. A beat loop in this process sends the entries of
``beat.beat_schedule()`` (built from the scaled settings: ``sync_all_accounts``,
``refresh_expiring_tokens``, ``sweep_outbox``) when due, to one ``celery worker`` with
``--workers`` prefork processes. The area feed is not configured (one request per area and pass
would only lower the per-user share).

Figures, over the requests the emulator served between the first pass and the end of the hour:

- ``budget_used_share``: requests (API and token endpoint, 429s excluded) over what the limit
  allowed in that time (goal >= 0.95; the planner leaves ``RATE_LIMIT_RESERVE``, 5 %, for
  interactive work, which this scene has none of);
- ``useful_request_share``: answered requests (status below 400), less the refreshes beyond
  the minimum, over all requests (a 429, a 401 from a dead token, a 5xx or a refresh that was
  not needed is waste);
- ``refresh_request_share``: token refreshes over all requests, with ``refresh_minimum``: the
  accounts synced in the hour whose token was within its refresh margin at that sync (the
  refreshes the lifetimes force);
- ``failed_tasks``: tasks the worker logged as failed (``raised unexpected``), and
  ``sync_errors``: accounts whose ``last_sync_error`` is set;
- ``responses_429``;
- ``p95_account_staleness``: the 95th percentile over all accounts of the time since their last
  sync, at the end of the hour, in real and in scaled seconds, beside what 20 requests a
  minute allow: one cycle of ``N x mean cost`` requests at the limit's rate, of which 95 % lie
  within ``0.95 x cycle`` (``staleness_vs_allowed``, goal <= 1.1).

Traffic stays on 127.0.0.1; the run is bounded by ``--hours`` and every wait has a timeout.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from common import Stack, link_accounts, remote, running_stack

LIMIT = 20  # SeeClickFix's requests a minute, per scaled minute here
TOKEN_LIFETIME = 7200  # SeeClickFix's access tokens, seconds
TOKEN_BATCHES = 10


def scaled_settings(f: float, period: float) -> dict[str, Any]:
    """The library's defaults with every duration multiplied by ``f``."""

    def seconds(value: float) -> int:
        return max(1, round(value * f))

    return {
        "RATE_LIMIT_REQUESTS": LIMIT,
        "RATE_LIMIT_PERIOD": period,
        "RATE_LIMIT_MAX_WAIT": 30.0 * f,
        "RATE_LIMIT_LEASE": 15.0 * f,
        "RETRY_AFTER_DEFAULT": seconds(60),
        "TASK_RETRY_BACKOFF_MAX": seconds(600),
        "TASK_MAX_RETRIES": 8,
        "SYNC_PASS_INTERVAL": seconds(300),
        "SYNC_INTERVAL": seconds(900),
        "SYNC_INTERVAL_WITH_FEED": seconds(21600),
        "SYNC_QUEUE_TIMEOUT": seconds(1800),
        "SYNC_LOCK_TTL": seconds(600),
        "PROFILE_MAX_AGE": seconds(86400),
        "TOKEN_REFRESH_MARGIN": seconds(300),
        "OUTBOX_SWEEP_INTERVAL": seconds(60),
        "OUTBOX_REQUEUE_AFTER": seconds(300),
    }


def settle_scene(stack: Stack, accounts: int, f: float, settings: dict[str, Any]) -> list[int]:
    """Link the accounts as a running site has them (see the module docstring)."""
    from django.utils import timezone

    from django_seeclickfix.models import SeeClickFixAccount

    lifetime = timedelta(seconds=max(1, round(TOKEN_LIFETIME * f)))
    per_batch = math.ceil(accounts / TOKEN_BATCHES)
    step = lifetime / TOKEN_BATCHES
    batches: list[list[int]] = []
    while sum(map(len, batches)) < accounts:
        size = min(per_batch, accounts - sum(map(len, batches)))
        batches.append(link_accounts(stack.emulator, size, 1, prefix=f"steady{len(batches)}"))
        stack.emulator.advance(step.total_seconds())  # the next batch's tokens are younger
    # Each batch's tokens were issued ``(batches after it + 1) x step`` of emulator time before
    # its clock now: their expiry on our clock moves back by the same.
    rate = LIMIT / settings["RATE_LIMIT_PERIOD"]
    cycle = accounts * 1.05 / (rate * 0.95)  # an expected cycle, real seconds
    rng = random.Random(17)
    now = timezone.now()
    profile_age = settings["PROFILE_MAX_AGE"]
    for index, ids in enumerate(batches):
        shift = step * (len(batches) - index)
        for pk in ids:
            account = SeeClickFixAccount.objects.get(pk=pk)
            expires_at = account.expires_at - shift
            last = now - timedelta(seconds=rng.uniform(0, cycle))
            SeeClickFixAccount.objects.filter(pk=pk).update(
                expires_at=expires_at,
                token_issued_at=expires_at - lifetime,
                last_synced_at=last,
                sync_cursor=now - timedelta(minutes=30),
                last_sync_changes=0,
                next_sync_at=last + timedelta(seconds=settings["SYNC_INTERVAL"]),
                profile={"id": account.user_scf_id, "reported_issue_count": 1},
                profile_synced_at=now - timedelta(seconds=rng.uniform(0, profile_age)),
            )
    return [pk for ids in batches for pk in ids]


class Beat(threading.Thread):
    """Sends each entry of the beat schedule when due, like ``celery beat``."""

    def __init__(self, app: Any, schedule: dict[str, dict[str, Any]], until: float) -> None:
        super().__init__(daemon=True)
        self.app, self.schedule, self.until = app, schedule, until
        self.sent: dict[str, int] = dict.fromkeys(schedule, 0)

    def run(self) -> None:
        due = {name: time.monotonic() for name in self.schedule}
        while time.monotonic() < self.until:
            for name, entry in self.schedule.items():
                if time.monotonic() >= due[name]:
                    self.app.send_task(entry["task"], expires=entry["options"]["expires"])
                    self.sent[name] += 1
                    due[name] += float(entry["schedule"])
            time.sleep(0.05)


class Activity(threading.Thread):
    """``count`` new reports by random linked users, evenly spread until ``until``."""

    def __init__(self, url: str, reporters: list[int], count: int, until: float) -> None:
        super().__init__(daemon=True)
        self.emulator = remote(url)  # its own connection: not shared across threads
        self.reporters, self.count, self.until = reporters, count, until
        self.made = 0

    def run(self) -> None:
        rng = random.Random(42)
        gap = (self.until - time.monotonic()) / max(1, self.count)
        try:
            while self.made < self.count and time.monotonic() < self.until:
                stamp = datetime.now(UTC).replace(microsecond=0)
                self.emulator.add_issue(
                    rng.choice(self.reporters), created_at=stamp, updated_at=stamp
                )
                self.made += 1
                time.sleep(gap)
        finally:
            self.emulator.close()


def read_log(stack: Stack, since: int) -> tuple[int, list[dict[str, Any]]]:
    """The newest sequence number and the API and token requests logged after ``since``."""
    logged = stack.emulator.requests(since=since)
    newest = int(logged[-1]["seq"]) if logged else since
    return newest, [e for e in logged if e["path"].startswith(("/api/", "/oauth/"))]


def steady_state(
    stack: Stack,
    *,
    accounts: int = 2000,
    period: float = 3.0,
    hours: float = 1.0,
    workers: int = 4,
    activity: float = 0.1,
) -> dict[str, Any]:
    from celery import current_app
    from django.utils import timezone

    from django_seeclickfix import beat, tokens
    from django_seeclickfix.models import SeeClickFixAccount

    f = period / 60
    settings = scaled_settings(f, period)
    values = stack.configure(**settings, SYNC_BATCH_SIZE=None)
    stack.flush_redis()
    ids = settle_scene(stack, accounts, f, settings)
    initial = {
        row.pk: row.expires_at - tokens.refresh_margin(row)
        for row in SeeClickFixAccount.objects.filter(pk__in=ids).only(
            "pk", "expires_at", "token_issued_at"
        )
    }
    reporters = list(
        SeeClickFixAccount.objects.filter(pk__in=ids).values_list("user_scf_id", flat=True)
    )
    schedule = beat.beat_schedule(values["SEECLICKFIX"])
    length = 3600 * f * hours
    entries: list[dict[str, Any]] = []
    with stack.worker(workers) as worker:
        stack.emulator.set_rate_limit(LIMIT, period)
        try:
            seq, _ = read_log(stack, 0)
            started_at, started = timezone.now(), time.monotonic()
            until = started + length
            # The producer app stack.configure made current (current_app is per thread).
            beat_loop = Beat(current_app._get_current_object(), schedule, until)
            changes = Activity(stack.url, reporters, round(activity * accounts), until)
            beat_loop.start()
            changes.start()
            while time.monotonic() < until:
                time.sleep(min(period, max(0.0, until - time.monotonic())))
                seq, new = read_log(stack, seq)  # often: the emulator keeps the last 10,000
                entries.extend(new)
            elapsed = time.monotonic() - started
            ended_at = timezone.now()
            beat_loop.join(5)
            changes.join(5)
        finally:
            stack.emulator.set_rate_limit(None)
        log = worker.log(since_start=True)
    stale = sorted(
        (ended_at - (row.last_synced_at or started_at)).total_seconds()
        for row in SeeClickFixAccount.objects.filter(pk__in=ids).only("last_synced_at")
    )
    synced = SeeClickFixAccount.objects.filter(pk__in=ids, last_synced_at__gte=started_at)
    refresh_minimum = sum(
        1 for row in synced.only("pk", "last_synced_at") if initial[row.pk] <= row.last_synced_at
    )
    limited = [e for e in entries if e["status"] != 429]
    refreshes = sum(1 for e in entries if e["path"] == "/oauth/token")
    answered = sum(1 for e in entries if e["status"] < 400)
    listings = sum(
        1 for e in entries if e["path"] == "/api/v2/profile/issues" and e["status"] < 400
    )
    total = max(1, len(entries))
    allowed = LIMIT * elapsed / period
    mean_cost = len(limited) / max(1, listings)  # requests per sync
    cycle = accounts * mean_cost / (LIMIT / period)
    p95 = stale[min(len(stale) - 1, math.ceil(0.95 * len(stale)) - 1)]
    return {
        "accounts": accounts,
        "workers": workers,
        "period_s": period,
        "scale": round(f, 4),
        "scaled_hours": hours,
        "elapsed_s": round(elapsed, 1),
        "requests": len(entries),
        "syncs": listings,
        "mean_requests_per_sync": round(mean_cost, 3),
        "new_reports": changes.made,
        "passes": beat_loop.sent.get("seeclickfix-sync-all-accounts", 0),
        "budget_used_share": round(len(limited) / allowed, 3),
        "useful_request_share": round((answered - max(0, refreshes - refresh_minimum)) / total, 3),
        "refresh_request_share": round(refreshes / total, 3),
        "refreshes": refreshes,
        "refresh_minimum": refresh_minimum,
        "failed_tasks": log.count("raised unexpected"),
        "sync_errors": SeeClickFixAccount.objects.filter(pk__in=ids)
        .exclude(last_sync_error="")
        .count(),
        "responses_429": sum(1 for e in entries if e["status"] == 429),
        "p95_account_staleness_s": round(p95, 1),
        "p95_account_staleness_scaled_h": round(p95 / f / 3600, 2),
        "median_account_staleness_scaled_h": round(statistics.median(stale) / f / 3600, 2),
        "p95_staleness_allowed_scaled_h": round(0.95 * cycle / f / 3600, 2),
        "staleness_vs_allowed": round(p95 / (0.95 * cycle), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--period", type=float, default=3.0, help="seconds per scaled minute")
    parser.add_argument("--hours", type=float, default=1.0, help="scaled hours to run")
    parser.add_argument("--workers", type=int, default=4, help="prefork pool processes")
    parser.add_argument("--activity", type=float, default=0.1, help="share reporting an issue")
    args = parser.parse_args(argv)
    if not 0 < args.hours <= 4 or args.period <= 0 or args.accounts < 1:
        parser.error("--hours must be in (0, 4], --period and --accounts positive")
    lifetime = max(1, round(TOKEN_LIFETIME * args.period / 60))
    started = time.perf_counter()
    with running_stack(emulator_args=("--access-token-lifetime", str(lifetime))) as stack:
        figures = steady_state(
            stack,
            accounts=args.accounts,
            period=args.period,
            hours=args.hours,
            workers=args.workers,
            activity=args.activity,
        )
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
