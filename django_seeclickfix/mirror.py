"""The one write path of issues into :class:`~django_seeclickfix.models.SeeClickFixIssue`.

The per-user sync (``sync.py``) and the area feed (``feed.py``, whose pages mix accounts) both
store what they read through :func:`upsert_issue_rows`: one statement per database batch,
whatever the page size, keyed on (environment, SeeClickFix id).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from .client import parsing
from .models import SeeClickFixAccount, SeeClickFixIssue

if TYPE_CHECKING:
    from .client import Issue

# The columns an upsert rewrites on an existing row (first_synced_at and the key stay).
UPSERT_FIELDS = [
    "account",
    "reporter_scf_id",
    "status",
    "summary",
    "description",
    "address",
    "lat",
    "lng",
    "html_url",
    "rating",
    "scf_created_at",
    "scf_updated_at",
    "raw",
    "last_synced_at",
]


def _clip(value: str | None, length: int) -> str:
    return (value or "")[:length]


def _issue_row(account: SeeClickFixAccount, issue: Issue, now: datetime) -> SeeClickFixIssue:
    reporter = parsing.bigint(issue.reporter.id) if issue.reporter is not None else None
    # SeeClickFix lists a user's own anonymous report with the placeholder reporter
    # {"id": 0, "name": "An anonymous SeeClickFix user"}: the row is still the account's own.
    return SeeClickFixIssue(
        environment=account.environment,
        scf_id=issue.id,
        account=account,
        reporter_scf_id=reporter if reporter else account.user_scf_id,
        status=_clip(issue.status, 40),
        summary=_clip(issue.summary, 500),
        description=issue.description or "",
        address=_clip(issue.address, 500),
        lat=issue.lat,
        lng=issue.lng,
        html_url=_clip(parsing.web_url(issue.html_url), 500),
        rating=issue.rating if issue.rating is None or abs(issue.rating) < 2**31 else None,
        scf_created_at=issue.created_at,
        scf_updated_at=issue.updated_at,
        raw=dict(issue.raw),
        first_synced_at=now,
        last_synced_at=now,
    )


def upsert_issues(account: SeeClickFixAccount, issues: Iterable[Issue], now: datetime) -> int:
    """Insert or update ``issues`` of ``account``; returns how many."""
    return upsert_issue_rows(((account, issue) for issue in issues), now)


def upsert_issue_rows(pairs: Iterable[tuple[SeeClickFixAccount, Issue]], now: datetime) -> int:
    """Insert or update each issue under its account in one statement (per database batch);
    returns how many."""
    rows: dict[tuple[str, int], SeeClickFixIssue] = {}
    for account, issue in pairs:
        # A repeated id: the last one wins.
        rows[(account.environment, issue.id)] = _issue_row(account, issue, now)
    if not rows:
        return 0
    SeeClickFixIssue.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=["environment", "scf_id"],
        update_fields=UPSERT_FIELDS,
    )
    return len(rows)


__all__ = ["UPSERT_FIELDS", "upsert_issue_rows", "upsert_issues"]
