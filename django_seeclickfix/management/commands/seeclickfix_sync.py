"""Sync linked SeeClickFix accounts now: one user, one account, or all of them.

Inline by default (here, one account after the other, waiting for the shared rate budget when it
runs out), or ``--queue`` to hand the accounts to the Celery workers. Prints a progress bar on a
terminal and a summary: synced, unchanged, failed, reauth required (and skipped or busy, when
any). Exits with an error when an account failed, so cron and CI notice.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from ... import scheduling, sync, tasks
from ...conf import app_settings
from ...exceptions import RateLimited, SeeClickFixError
from ...models import SeeClickFixAccount

# How many times one account may wait for the rate budget before it counts as failed.
MAX_BUDGET_WAITS = 20
BAR_WIDTH = 30
SUMMARY_ORDER = (
    ("synced", "synced"),
    ("unchanged", "unchanged"),
    ("failed", "failed"),
    ("reauth_required", "reauth required"),
    ("skipped", "skipped"),
    ("locked", "busy (another sync was running)"),
)


class Command(BaseCommand):
    help = (
        "Sync linked SeeClickFix accounts (profile and reported issues): one user, one "
        "account or all; inline or queued to the Celery workers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--user", help="A site user: username (or primary key).")
        which.add_argument("--account", type=int, help="A SeeClickFixAccount primary key.")
        which.add_argument(
            "--all",
            action="store_true",
            help="Every usable account of the configured environment.",
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Queue sync_account tasks for the workers instead of syncing here.",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="Ignore the cursor: read every issue again and report rows SeeClickFix no "
            "longer lists (inline only).",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar, even on a terminal."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["queue"] and options["full"]:
            raise CommandError("--full runs inline only; drop --queue.")
        accounts = self._accounts(options)
        ids = list(accounts.order_by("pk").values_list("pk", flat=True))
        if not ids:
            self.stdout.write("No account to sync.")
            return
        if options["queue"]:
            self._queue(ids)
            return
        progress = not options["no_progress"] and self.stderr.isatty()
        counts: Counter[str] = Counter()
        missing = 0
        for done, account_id in enumerate(ids, start=1):
            outcome, gone = self._sync_one(account_id, full=options["full"])
            counts[outcome] += 1
            missing += gone
            if progress:
                self._bar(done, len(ids), counts)
        if progress:
            self.stderr.write("")
        self._summary(counts, missing if options["full"] else None)
        if counts["failed"]:
            raise CommandError(f"{counts['failed']} account(s) failed; see last_sync_error.")

    # selection ---------------------------------------------------------------------------------

    def _accounts(self, options: dict[str, Any]) -> QuerySet[SeeClickFixAccount]:
        accounts = SeeClickFixAccount.objects.for_environment()
        if options["account"] is not None:
            found = SeeClickFixAccount.objects.filter(pk=options["account"])
            if not found.exists():
                raise CommandError(f"No SeeClickFixAccount with id {options['account']}.")
            return found
        if options["user"] is not None:
            user_model = get_user_model()
            ref = options["user"]
            user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: ref}).first()
            if user is None and str(ref).isdigit():
                user = user_model._default_manager.filter(pk=int(ref)).first()
            if user is None:
                raise CommandError(f"No user {ref!r}.")
            found = accounts.filter(user=user)
            if not found.exists():
                raise CommandError(
                    f"User {ref!r} has no SeeClickFix account on environment "
                    f"{app_settings.ENVIRONMENT!r}."
                )
            return found
        return accounts.usable()

    # work --------------------------------------------------------------------------------------

    def _queue(self, ids: list[int]) -> None:
        # Paced like a pass, so thousands of accounts do not all wait for budget at once.
        planned = scheduling.plan_accounts(ids)
        sent = tasks.queue_syncs(planned)
        spread = planned[-1].countdown if planned else 0
        pace = f" (spread over {spread:.0f} s at the rate budget's pace)" if spread >= 1 else ""
        self.stdout.write(f"Queued {sent} account(s) for the workers{pace}.")

    def _sync_one(self, account_id: int, *, full: bool) -> tuple[str, int]:
        for _attempt in range(MAX_BUDGET_WAITS):
            try:
                summary = sync.run_sync(account_id, full=full)
            except RateLimited as err:
                # A command can afford to wait where a worker would hand the task back.
                time.sleep(max(0.5, err.retry_after))
                continue
            except SeeClickFixError as err:
                self.stderr.write(f"Account {account_id}: {type(err).__name__}: {err}")
                return "failed", 0
            return str(summary["outcome"]), int(summary.get("missing") or 0)
        self.stderr.write(f"Account {account_id}: the rate budget stayed used up; gave up.")
        return "failed", 0

    # output ------------------------------------------------------------------------------------

    def _bar(self, done: int, total: int, counts: Counter[str]) -> None:
        filled = round(BAR_WIDTH * done / total)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stderr.write(
            f"\r[{bar}] {done}/{total}  failed {counts['failed']}",
            ending="",
        )
        self.stderr.flush()

    def _summary(self, counts: Counter[str], missing: int | None) -> None:
        parts = [
            f"{label}: {counts[key]}"
            for key, label in SUMMARY_ORDER
            if counts[key] or key in ("synced", "unchanged", "failed", "reauth_required")
        ]
        self.stdout.write(", ".join(parts))
        if missing:
            self.stdout.write(
                f"{missing} stored issue(s) are no longer listed by SeeClickFix (kept; their "
                "last_synced_at is older than this run)."
            )
