"""Re-encrypt every stored token under the first key of ``SEECLICKFIX["TOKEN_KEYS"]``.

Rotation: put the new key first, keep the old ones after it, deploy, run this command, then drop
the old keys. Each batch commits on its own, so an interrupted run resumes where it stopped; rows
already under the first key are left alone, so running it twice changes nothing the second time.
A row is written only if its ``token_version`` is unchanged since it was read, so a token
refreshed meanwhile is never overwritten with the older one.

A long run says how far it is (every ``--progress-every`` accounts, or every
``--progress-seconds``, whichever comes first, at batch ends); ``--verbosity 0`` prints nothing
unless something fails.
"""

from __future__ import annotations

import time
from typing import Any

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from ...fields import Ciphertext, multifernet, primary_fernet
from ...models import SeeClickFixAccount

TOKEN_COLUMNS = ("access_token", "refresh_token")


class Command(BaseCommand):
    help = (
        "Re-encrypt stored SeeClickFix tokens under the first key of SEECLICKFIX['TOKEN_KEYS'] "
        "(idempotent, resumable)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=200, help="Rows per transaction (default 200)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would change; write nothing."
        )
        parser.add_argument(
            "--progress-every",
            type=int,
            default=1000,
            help="Report progress after this many accounts (default 1000).",
        )
        parser.add_argument(
            "--progress-seconds",
            type=float,
            default=10.0,
            help="...or after this many seconds, whichever comes first (default 10).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["progress_every"] < 1:
            raise CommandError("--progress-every must be at least 1.")
        dry_run: bool = options["dry_run"]
        progress = Progress(
            self,
            total=SeeClickFixAccount.objects.count(),
            every=options["progress_every"],
            seconds=options["progress_seconds"],
            quiet=options["verbosity"] == 0,
            dry_run=dry_run,
        )
        counts = {"rotated": 0, "current": 0, "empty": 0, "unreadable": 0, "raced": 0}
        unreadable: list[int] = []
        last_pk = 0
        while True:
            rows = list(
                SeeClickFixAccount.objects.filter(pk__gt=last_pk)
                .order_by("pk")
                .values("pk", "token_version", *TOKEN_COLUMNS)[:batch_size]
            )
            if not rows:
                break
            last_pk = rows[-1]["pk"]
            with transaction.atomic():
                for row in rows:
                    outcome = self._rotate_row(row, dry_run=dry_run)
                    counts[outcome] += 1
                    if outcome == "unreadable":
                        unreadable.append(row["pk"])
            progress.batch_done(len(rows), counts["rotated"])
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        if not progress.quiet:
            self.stdout.write(
                f"{verb} {counts['rotated']} account(s); "
                f"{counts['current']} already under the first key; "
                f"{counts['empty']} without tokens; "
                f"{counts['raced']} changed meanwhile (run again to check them); "
                f"{counts['unreadable']} unreadable."
            )
        if unreadable:
            shown = ", ".join(str(pk) for pk in unreadable[:20])
            raise CommandError(
                f"{len(unreadable)} account(s) have tokens that no key in TOKEN_KEYS decrypts "
                f"(ids {shown}{', ...' if len(unreadable) > 20 else ''}). Add back the key that "
                "wrote them, or ask those users to connect SeeClickFix again."
            )

    def _rotate_row(self, row: dict[str, Any], *, dry_run: bool) -> str:
        primary = primary_fernet()
        every_key = multifernet()
        changes: dict[str, Ciphertext] = {}
        for column in TOKEN_COLUMNS:
            value = row[column]
            if value is None:
                continue
            raw = str(value).encode("ascii")
            try:
                primary.decrypt(raw)
                continue
            except InvalidToken:
                pass
            try:
                changes[column] = Ciphertext(every_key.rotate(raw).decode("ascii"))
            except InvalidToken:
                return "unreadable"
        if not changes:
            return "empty" if all(row[c] is None for c in TOKEN_COLUMNS) else "current"
        if dry_run:
            return "rotated"
        # Same token, new ciphertext: token_version stays, but must still match, so a refresh
        # that committed since the read above is never replaced by the older token.
        written = SeeClickFixAccount.objects.filter(
            pk=row["pk"], token_version=row["token_version"]
        ).update(**changes)
        return "rotated" if written else "raced"


class Progress:
    """Progress lines for a long run: at a batch end, once ``every`` accounts or ``seconds``
    have passed since the last line, so a run over 50,000 accounts is not silent for minutes."""

    def __init__(
        self,
        command: BaseCommand,
        *,
        total: int,
        every: int,
        seconds: float,
        quiet: bool,
        dry_run: bool,
    ) -> None:
        self.command = command
        self.total = total
        self.every = every
        self.seconds = seconds
        self.quiet = quiet
        self.dry_run = dry_run
        self.done = 0
        self.reported_at_count = 0
        self.reported_at_time = time.monotonic()

    def batch_done(self, rows: int, rotated: int) -> None:
        self.done += rows
        if self.quiet or self.done >= self.total:
            return  # the summary line follows at once
        now = time.monotonic()
        if (
            self.done - self.reported_at_count < self.every
            and now - self.reported_at_time < self.seconds
        ):
            return
        self.reported_at_count, self.reported_at_time = self.done, now
        if self.dry_run:
            text = _("checked %(done)s / %(total)s accounts (would re-encrypt so far: %(rotated)s)")
        else:
            text = _("checked %(done)s / %(total)s accounts (re-encrypted so far: %(rotated)s)")
        self.command.stdout.write(
            text
            % {
                "done": number_format(self.done, force_grouping=True),
                "total": number_format(self.total, force_grouping=True),
                "rotated": number_format(rotated, force_grouping=True),
            }
        )
