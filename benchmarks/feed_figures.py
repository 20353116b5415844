"""Requests per sync pass: the area change feed against per-user syncs, against the emulator.

    .venv/bin/python benchmarks/feed_figures.py                  # 1,000 users, 50 changes
    .venv/bin/python benchmarks/feed_figures.py --users 5000 --changes 250 --sample 200

Importable: ``feed_figures(users=1000, changes=50, *, sample=None) -> dict[str, float]``.

The scene: ``users`` emulator residents of New Haven, all linked (``SeeClickFixAccount``), each
with one issue last changed 30 days ago and already synced (their per-user cursors stand at it,
profiles fresh: the steady state a previous pass leaves). The area feed for ``new-haven`` has
made one pass. Then ``changes`` of those issues change on SeeClickFix (one a second, the last
two seconds ago), and one pass of each kind runs through the library's real code, in this
process, on the emulator's real HTTP:

- ``requests_per_pass_feed``: ``feed.run_feed()``, anonymous as without ``SERVICE_ACCOUNT``
  (goal: ``ceil(changes / 20)``: SeeClickFix serves anonymous listings 20 per page);
- ``requests_per_pass_feed_service_account``: the same pass again, from the same cursor over
  the same changes, with ``SERVICE_ACCOUNT`` set to an emulator user's personal access token
  (goal: ``ceil(changes / 100)``: a token's listings hold 100 per page);
- ``requests_per_pass_per_user``: ``sync.sync_now()`` for every account, as
  ``sync_all_accounts`` would queue them (``users`` expected: one request each). With
  ``sample``, that many accounts (the changed ones first, then unchanged ones) are synced and
  the measured requests per unchanged and per changed account are scaled to ``users``; the
  result says so in ``per_user_sampled``.

Requests are counted by the emulator (every request it served under ``/api/v2``). Every pass
is checked: each feed pass must have stored exactly the changed issues, the per-user pass must
have seen every change of the accounts it synced.

Uses Django with ``tests.settings`` (SQLite in memory) unless Django is already configured; the
database is migrated first.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

AREA = {"NAME": "new-haven", "PLACE_URL": "new-haven"}


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.apps import apps
    from django.core.management import call_command

    if not apps.ready:
        django.setup()
    call_command("migrate", verbosity=0)


def _link_everyone(emulator: Any, users: int) -> tuple[list[Any], list[int]]:
    """``users`` linked residents with one synced issue each: (their issues, account ids)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from django_seeclickfix.models import SeeClickFixAccount

    now = timezone.now().replace(microsecond=0)
    old = now - timedelta(days=30)
    residents = emulator.generate_users(users, prefix="feedbench")
    issues = [
        emulator.add_issue(r, updated_at=old, created_at=old - timedelta(days=30))
        for r in residents
    ]
    user_model = get_user_model()
    site_users = user_model.objects.bulk_create(
        [user_model(username=f"feedbench-{r.id}") for r in residents]
    )
    if site_users[0].pk is None:  # backends that do not return keys from bulk inserts
        site_users = list(user_model.objects.filter(username__startswith="feedbench-"))
    by_name = {u.get_username(): u for u in site_users}
    accounts = SeeClickFixAccount.objects.bulk_create(
        [
            SeeClickFixAccount(
                user=by_name[f"feedbench-{r.id}"],
                environment="emulator",
                user_scf_id=r.id,
                access_token=emulator.issue_token(r).access_token,
                sync_cursor=old,
                profile={"id": r.id, "name": r.name},
                profile_synced_at=now,
                last_synced_at=now,
            )
            for r in residents
        ]
    )
    ids = [a.pk for a in accounts] if accounts[0].pk is not None else []
    if not ids:
        ids = list(SeeClickFixAccount.objects.order_by("pk").values_list("pk", flat=True))
    return issues, ids


def _check_stored(changed: list[Any], reader: str) -> None:
    from django_seeclickfix.models import SeeClickFixIssue

    stored = set(SeeClickFixIssue.objects.values_list("scf_id", flat=True))
    if stored != {i.id for i in changed}:
        raise AssertionError(f"the {reader} feed did not store exactly the changed issues")


def _api_requests(emulator: Any, since: int) -> int:
    return sum(1 for r in emulator.requests("/api/v2") if r.seq > since)


def _last_seq(emulator: Any) -> int:
    log = emulator.requests()
    return log[-1].seq if log else 0


def feed_figures(
    users: int = 1000, changes: int = 50, *, sample: int | None = None
) -> dict[str, Any]:
    """Measure one feed pass and one per-user pass after ``changes`` changes among ``users``
    linked residents (see the module docstring). Returns ``requests_per_pass_feed``,
    ``requests_per_pass_feed_service_account``, ``requests_per_pass_per_user``, the goals
    (``…_goal``) and details."""
    if not 0 < changes <= users:
        raise ValueError("changes must be between 1 and users")
    _setup_django()
    from django.db import transaction
    from django.test import override_settings
    from django.utils import timezone

    from django_seeclickfix import feed, sync
    from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixAreaFeed, SeeClickFixIssue
    from django_seeclickfix.testing.configure import emulator_settings
    from django_seeclickfix.testing.emulator import Emulator

    started = time.perf_counter()
    emulator = Emulator(seed="empty", rate_limit=None, token_regime="non_expiring").start()
    try:
        overrides = emulator_settings(
            emulator,
            AREAS=[AREA],
            RATE_LIMIT_REQUESTS=1_000_000,
            RATE_LIMIT_PERIOD=1,
        )
        # No cache clearing: this emulator's port is new, so are the ETag keys.
        with override_settings(**overrides), transaction.atomic():
            issues, account_ids = _link_everyone(emulator, users)
            feed.run_feed()  # the feed's earlier pass: its cursor stands before the changes

            changed = random.Random(changes).sample(issues, changes)
            # Spread over the interval, one a second, the last two seconds ago: the changes a
            # pass finds. (Many in the very second a walk starts are the burst case, measured
            # by burst_figures.py.)
            start = timezone.now().replace(microsecond=0) - timedelta(seconds=changes + 1)
            for n, issue in enumerate(changed):
                emulator.update_issue(
                    issue.id, status="closed", updated_at=start + timedelta(seconds=n)
                )
            changed_reporters = {i.reporter_id for i in changed}

            cursor = SeeClickFixAreaFeed.objects.values_list("cursor", flat=True).get()
            since = _last_seq(emulator)
            feed_pass = feed.run_feed()["areas"][0]
            feed_requests = _api_requests(emulator, since)
            _check_stored(changed, "anonymous")

            # The same changes read again from the same cursor, as the service account.
            SeeClickFixIssue.objects.all().delete()
            SeeClickFixAreaFeed.objects.update(cursor=cursor)
            official = emulator.generate_users(1, prefix="feedbench-official")[0]
            service = {"SERVICE_ACCOUNT": {"TOKEN": emulator.personal_access_token(official)}}
            # emulator_settings starts from the settings in force (the areas, the budget).
            with override_settings(**emulator_settings(emulator, **service)):
                since = _last_seq(emulator)
                feed.run_feed()
                service_requests = _api_requests(emulator, since)
            _check_stored(changed, "service-account")

            accounts = list(
                SeeClickFixAccount.objects.filter(pk__in=account_ids).select_related("user")
            )
            accounts.sort(key=lambda a: a.user_scf_id not in changed_reporters)  # changed first
            synced = accounts if sample is None or sample >= users else accounts[:sample]
            per_account: dict[bool, list[int]] = {True: [], False: []}
            for account in synced:
                since = _last_seq(emulator)
                result = sync.sync_now(account)
                per_account[account.user_scf_id in changed_reporters].append(
                    _api_requests(emulator, since)
                )
                if account.user_scf_id in changed_reporters and result.unchanged:
                    raise AssertionError("a per-user sync missed its account's change")
            measured = sum(per_account[True]) + sum(per_account[False])
            if len(synced) == users:
                per_user = float(measured)
            else:
                # Scale each kind of account by its own measured cost.
                mean = {k: sum(v) / len(v) for k, v in per_account.items() if v}
                per_user = mean[True] * changes + mean.get(False, mean[True]) * (users - changes)
            SeeClickFixAreaFeed.objects.all().delete()
            transaction.set_rollback(True)  # leave the database as it was
    finally:
        emulator.stop()
    return {
        "users": users,
        "changes": changes,
        "requests_per_pass_feed": float(feed_requests),
        # anonymous listings come 20 per page (the emulator's anonymous_per_page, as live)
        "requests_per_pass_feed_goal": float(math.ceil(changes / 20)),
        "requests_per_pass_feed_service_account": float(service_requests),
        # a token's listings come 100 per page
        "requests_per_pass_feed_service_account_goal": float(math.ceil(changes / 100)),
        "requests_per_pass_per_user": round(per_user, 2),
        "per_user_sampled": len(synced) != users,
        "per_user_accounts_synced": len(synced),
        "feed_issues_stored": feed_pass["stored"],
        "seconds": round(time.perf_counter() - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument(
        "--sample",
        type=int,
        default=None,
        help="sync only this many accounts per-user and scale (default: all)",
    )
    args = parser.parse_args()
    print(json.dumps(feed_figures(args.users, args.changes, sample=args.sample), indent=2))


if __name__ == "__main__":
    main()
