"""Everything the emulator knows, in memory, behind one re-entrant lock.

Request handlers (in the server thread) and the Python API (in test threads) both take
``State.lock``; each request is handled under it as one step, so tests never observe half a change.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

from .clock import Clock
from .models import (
    STATUSES,
    App,
    BrowserSession,
    Comment,
    Grant,
    Issue,
    Place,
    RequestType,
    Token,
    User,
)

FIRST_USER_ID = 1001
FIRST_ISSUE_ID = 10_000_001
SORTS = ("created_at", "updated_at", "rating", "distance")
QUERY_CACHE_SIZE = 64


class NotFoundError(LookupError):
    pass


def normalize_status(value: str) -> str:
    """``open`` / ``OPEN`` / ``Open`` → ``Open``; anything else is a ``ValueError``."""
    for status in STATUSES:
        if status.lower() == value.strip().lower():
            return status
    raise ValueError(f"unknown status {value!r}; one of {', '.join(STATUSES)}")


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    rlat1, rlat2 = math.radians(lat1), math.radians(lat2)
    dlat, dlng = rlat2 - rlat1, math.radians(lng2 - lng1)
    a = math.sin(dlat / 2) ** 2 + math.cos(rlat1) * math.cos(rlat2) * math.sin(dlng / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


@dataclass
class IssueQuery:
    """The filters of ``GET /issues``, already parsed (see ``api.parse_issue_query``)."""

    statuses: frozenset[str] = frozenset({"Open", "Acknowledged", "Closed"})
    sort: str = "created_at"
    descending: bool = True
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    search: str | None = None
    request_types: frozenset[str] | None = None
    assignee_ids: frozenset[int] | None = None
    unassigned: bool = False
    bbox: tuple[float, float, float, float] | None = None
    near: tuple[float, float, float] | None = None  # lat, lng, radius km
    reporter_id: int | None = None


class State:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.users: dict[int, User] = {}
            self.users_by_email: dict[str, User] = {}
            self.issues: dict[int, Issue] = {}
            self.issues_by_reporter: dict[int, list[Issue]] = {}
            self.places: dict[str, Place] = {}
            self.request_types: dict[int, RequestType] = {}
            self.apps: dict[str, App] = {}
            self.grants: dict[str, Grant] = {}
            self.tokens: dict[int, Token] = {}
            self.tokens_by_access: dict[str, Token] = {}
            self.tokens_by_refresh: dict[str, Token] = {}
            self.sessions: dict[str, BrowserSession] = {}
            self.next_user_id = FIRST_USER_ID
            self.next_issue_id = FIRST_ISSUE_ID
            self.next_token_id = 1
            self.next_family = 1
            # Bumped by every change; caches of derived numbers compare against it.
            self.version = 0
            self.changed_at = self.clock.time()
            self._stats_cache: dict[int, tuple[int, dict[str, int]]] = {}
            self._query_cache: dict[tuple[Any, ...], list[Issue]] = {}

    def touch(self) -> None:
        self.version += 1
        self.changed_at = self.clock.time()
        self._query_cache.clear()

    def user_stats(self, user_id: int) -> dict[str, int]:
        """The counts on a profile, recomputed only after something changed."""
        with self.lock:
            cached = self._stats_cache.get(user_id)
            if cached is not None and cached[0] == self.version:
                return cached[1]
            reported = [i for i in self.issues_by_reporter.get(user_id, []) if not i.pending]
            stats = {
                "reported": len(reported),
                "closed": sum(1 for i in reported if i.status in ("Closed", "Archived")),
                "comments": 0,
                "following": 0,
                "voted": 0,
            }
            for issue in self.issues.values():
                if issue.pending:
                    continue
                stats["comments"] += sum(
                    1 for c in issue.comments if c.commenter_id == user_id and not c.pending
                )
                stats["following"] += user_id in issue.followers
                stats["voted"] += any(v.user_id == user_id for v in issue.votes)
            self._stats_cache[user_id] = (self.version, stats)
            return stats

    # users -------------------------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        email: str,
        password: str,
        *,
        id: int | None = None,
        **fields: Any,
    ) -> User:
        with self.lock:
            if email.lower() in self.users_by_email:
                raise ValueError(f"a user with email {email!r} exists already")
            user_id = id if id is not None else self.next_user_id
            if user_id in self.users:
                raise ValueError(f"user id {user_id} is taken")
            self.next_user_id = max(self.next_user_id, user_id + 1)
            now = self.clock.now()
            first, _, last = name.partition(" ")
            fields.setdefault("first_name", first)
            fields.setdefault("last_name", last)
            fields.setdefault("created_at", now)
            fields.setdefault("updated_at", fields["created_at"])
            user = User(id=user_id, name=name, email=email, password=password, **fields)
            self.users[user_id] = user
            self.users_by_email[email.lower()] = user
            self.issues_by_reporter.setdefault(user_id, [])
            self.touch()
            return user

    def user(self, ref: User | int | str) -> User:
        """A user by object, id or email."""
        with self.lock:
            if isinstance(ref, User):
                ref = ref.id
            found = (
                self.users.get(ref)
                if isinstance(ref, int)
                else self.users_by_email.get(str(ref).lower())
            )
            if found is None:
                raise NotFoundError(f"no emulated user {ref!r}")
            return found

    # issues ------------------------------------------------------------------------------------

    def add_issue(self, reporter: User | int | str, **fields: Any) -> Issue:
        with self.lock:
            user = self.user(reporter)
            issue_id = int(fields.pop("id", self.next_issue_id))
            if issue_id in self.issues:
                raise ValueError(f"issue id {issue_id} is taken")
            self.next_issue_id = max(self.next_issue_id, issue_id + 1)
            now = self.clock.now()
            fields.setdefault("created_at", now)
            fields.setdefault("updated_at", fields["created_at"])
            fields["status"] = normalize_status(fields.get("status", "Open"))
            if "assignee" in fields:
                assignee = fields.pop("assignee")
                fields["assignee_id"] = None if assignee is None else self.user(assignee).id
            place = self.places.get("new-haven")
            if "lat" not in fields or "lng" not in fields:
                lat, lng = place.center if place else (41.3083, -72.9279)
                fields.setdefault("lat", lat)
                fields.setdefault("lng", lng)
            fields.setdefault("address", "1 Church St New Haven, CT 06510, USA")
            fields.setdefault("summary", "Pothole")
            fields.setdefault("description", "")
            issue = Issue(id=issue_id, reporter_id=user.id, **fields)
            issue.followers.add(user.id)
            self._stamp_status_times(issue, issue.status, issue.updated_at)
            self.issues[issue_id] = issue
            self.issues_by_reporter.setdefault(user.id, []).append(issue)
            self.touch()
            return issue

    def issue(self, issue_id: int) -> Issue:
        found = self.issues.get(int(issue_id))
        if found is None or found.pending:
            raise NotFoundError(f"no emulated issue {issue_id}")
        return found

    @staticmethod
    def _stamp_status_times(issue: Issue, status: str, when: datetime) -> None:
        if status == "Acknowledged" and issue.acknowledged_at is None:
            issue.acknowledged_at = when
        if status in ("Closed", "Archived") and issue.closed_at is None:
            issue.closed_at = when
        if status == "Open":
            issue.closed_at = None

    def update_issue(self, issue_id: int, **changes: Any) -> Issue:
        """Change an issue as if someone did on SeeClickFix: ``updated_at`` moves to now."""
        with self.lock:
            issue = self.issue(issue_id)
            when = changes.pop("updated_at", None) or self.clock.now()
            if "status" in changes:
                status = normalize_status(changes.pop("status"))
                if status != issue.status:
                    issue.status = status
                    self._stamp_status_times(issue, status, when)
            if "assignee" in changes:
                assignee = changes.pop("assignee")
                issue.assignee_id = None if assignee is None else self.user(assignee).id
            if "reporter" in changes:
                raise ValueError("an issue's reporter never changes on SeeClickFix")
            for name, value in changes.items():
                if name in ("id", "reporter_id", "comments", "votes", "followers"):
                    raise ValueError(f"{name} cannot be changed this way")
                if not hasattr(issue, name):
                    raise ValueError(f"issues have no field {name!r}")
                setattr(issue, name, value)
            issue.updated_at = when
            self.touch()
            return issue

    def delete_issue(self, issue_id: int) -> None:
        with self.lock:
            issue = self.issues.pop(int(issue_id), None)
            if issue is None:
                raise NotFoundError(f"no emulated issue {issue_id}")
            self.issues_by_reporter[issue.reporter_id].remove(issue)
            self.touch()

    def add_comment(self, issue: Issue, user: User, body: str, *, pending: bool = False) -> Comment:
        with self.lock:
            now = self.clock.now()
            comment = Comment(
                commenter_id=user.id, body=body, created_at=now, updated_at=now, pending=pending
            )
            issue.comments.append(comment)
            if not pending:
                issue.updated_at = now
            self.touch()
            return comment

    def visible_comments(self, issue: Issue) -> list[Comment]:
        return [c for c in issue.comments if not c.pending]

    # queries -----------------------------------------------------------------------------------

    def query_issues(self, query: IssueQuery) -> list[Issue]:
        """Matching issues in the asked order. Paging through a result asks the same query
        again and again, so results are kept until the data changes."""
        key = (self.version, *(getattr(query, f.name) for f in dataclass_fields(query)))
        with self.lock:
            cached = self._query_cache.get(key)
            if cached is not None:
                return cached
            matched = self._query_issues(query)
            if len(self._query_cache) >= QUERY_CACHE_SIZE:
                self._query_cache.pop(next(iter(self._query_cache)))
            self._query_cache[key] = matched
            return matched

    def _query_issues(self, query: IssueQuery) -> list[Issue]:
        with self.lock:
            pool: Iterable[Issue] = (
                self.issues_by_reporter.get(query.reporter_id, [])
                if query.reporter_id is not None
                else self.issues.values()
            )
            matched = [i for i in pool if not i.pending and self._matches(i, query)]
        if query.sort == "distance" and query.near is not None:
            lat, lng, _ = query.near
            matched.sort(
                key=lambda i: (distance_km(lat, lng, i.lat, i.lng), i.id),
                reverse=query.descending,
            )
        elif query.sort == "rating":
            matched.sort(key=lambda i: (i.rating, i.id), reverse=query.descending)
        elif query.sort == "updated_at":
            matched.sort(key=lambda i: (i.updated_at, i.id), reverse=query.descending)
        else:
            matched.sort(key=lambda i: (i.created_at, i.id), reverse=query.descending)
        return matched

    @staticmethod
    def _matches(issue: Issue, q: IssueQuery) -> bool:
        if issue.status not in q.statuses:
            return False
        if q.created_after is not None and issue.created_at < q.created_after:
            return False
        if q.created_before is not None and issue.created_at >= q.created_before:
            return False
        if q.updated_after is not None and issue.updated_at < q.updated_after:
            return False
        if q.updated_before is not None and issue.updated_at >= q.updated_before:
            return False
        if q.search is not None:
            needle = q.search.lower()
            if not any(
                needle in text.lower() for text in (issue.summary, issue.description, issue.address)
            ):
                return False
        if q.request_types is not None and str(issue.request_type_id) not in q.request_types:
            return False
        if q.unassigned and issue.assignee_id is not None:
            return False
        if q.assignee_ids is not None and issue.assignee_id not in q.assignee_ids:
            return False
        if q.bbox is not None:
            min_lat, min_lng, max_lat, max_lng = q.bbox
            if not (min_lat <= issue.lat <= max_lat and min_lng <= issue.lng <= max_lng):
                return False
        if q.near is not None:
            lat, lng, radius = q.near
            if radius and distance_km(lat, lng, issue.lat, issue.lng) > radius:
                return False
        return True

    # tokens ------------------------------------------------------------------------------------

    def new_family(self) -> int:
        with self.lock:
            family = self.next_family
            self.next_family += 1
            return family

    def store_token(self, token: Token) -> Token:
        with self.lock:
            self.tokens[token.id] = token
            self.tokens_by_access[token.access_token] = token
            if token.refresh_token:
                self.tokens_by_refresh[token.refresh_token] = token
            return token

    def next_token(self) -> int:
        with self.lock:
            token_id = self.next_token_id
            self.next_token_id += 1
            return token_id

    def revoke_token(self, token: Token, reason: str) -> None:
        with self.lock:
            if token.revoked_at is None:
                token.revoked_at = self.clock.time()
                token.revoked_reason = reason

    def revoke_family(self, family: int, reason: str = "family") -> int:
        with self.lock:
            revoked = 0
            for token in self.tokens.values():
                if token.family == family and token.revoked_at is None:
                    self.revoke_token(token, reason)
                    revoked += 1
            return revoked
