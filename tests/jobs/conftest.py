"""Fixtures for the background-job tests: linked accounts and a small fake SeeClickFix.

``fake_scf`` answers ``/profile``, ``/profile/issues`` (filtered, sorted and paginated like the
real listing, with ETags and 304), the comments of an issue and the two POSTs, through
``responses``, so the unit tests see real HTTP through the real client.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.core.cache import caches
from django.db.models import Count
from django.test import override_settings

from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixIssue
from tests import settings as base_settings
from tests.celery_app import app as celery_app

BASE = "https://seeclickfix.com"
API = f"{BASE}/api/v2"
EASTERN = timezone(timedelta(hours=-5))
TOKEN_KEYS = base_settings.SEECLICKFIX["TOKEN_KEYS"]
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


assert celery_app.main == "scf_tests"  # the app tasks are sent through (memory:// broker)


def jobs_settings(**extra: Any) -> dict[str, Any]:
    """SEECLICKFIX for these tests: a budget that never waits, short task limits."""
    return {
        "TOKEN_KEYS": TOKEN_KEYS,
        "RATE_LIMIT_REQUESTS": 100000,
        "RATE_LIMIT_PERIOD": 1,
        **extra,
    }


@pytest.fixture(autouse=True)
def _jobs_settings():
    with override_settings(SEECLICKFIX=jobs_settings()):
        for alias in ("default",):
            caches[alias].clear()
        yield
        caches["default"].clear()


def link_emulator_user(
    emulator: Any, scf_user: Any, user: Any, **fields: Any
) -> SeeClickFixAccount:
    """``scf_user`` of the emulator linked to site user ``user``, with a token the emulator
    issued (tests of jobs, of the feed and of concurrency); ``fields`` override the rest."""
    token = emulator.issue_token(scf_user)
    fields.setdefault("environment", "emulator")
    fields.setdefault("expires_at", datetime.now(UTC) + timedelta(seconds=token.expires_in or 7200))
    return SeeClickFixAccount.objects.create(
        user=user,
        user_scf_id=scf_user.id,
        access_token=token.access_token,
        refresh_token=token.refresh_token,
        **fields,
    )


def assert_no_duplicates() -> None:
    """No SeeClickFix issue has two rows."""
    assert not (
        SeeClickFixIssue.objects.values("environment", "scf_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )


@pytest.fixture
def make_account(django_user_model):
    counter = iter(range(1, 10_000))

    def make(user_scf_id: int | None = None, **fields: Any) -> SeeClickFixAccount:
        n = next(counter)
        user = fields.pop("user", None) or django_user_model.objects.create_user(f"jobs-user-{n}")
        fields.setdefault("environment", "production")
        fields.setdefault("access_token", f"access-token-{n}")
        return SeeClickFixAccount.objects.create(
            user=user, user_scf_id=user_scf_id if user_scf_id is not None else 1000 + n, **fields
        )

    return make


def stamp(when: datetime) -> str:
    """How SeeClickFix writes times: US-Eastern offset, no Z."""
    return when.astimezone(EASTERN).isoformat(timespec="seconds")


@dataclass
class FakeIssue:
    id: int
    updated_at: datetime
    summary: str = "Pothole"
    status: str = "Open"
    reporter_id: int = 1
    created_at: datetime = T0
    description: str | None = None
    lat: float = 41.3
    lng: float = -72.9

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "summary": self.summary,
            "description": self.description or f"Issue {self.id}",
            "rating": 2,
            "lat": self.lat,
            "lng": self.lng,
            "address": "1 Main St",
            "created_at": stamp(self.created_at),
            "updated_at": stamp(self.updated_at),
            "html_url": f"https://seeclickfix.com/issues/{self.id}",
            "reporter": {"id": self.reporter_id, "name": "Reporter"},
        }


@dataclass
class FakeSCF:
    """One signed-in user's view of SeeClickFix."""

    mock: responses.RequestsMock
    user_id: int = 1
    issues: dict[int, FakeIssue] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    fail_issue_requests: set[int] = field(default_factory=set)  # 1-based listing calls to fail
    issue_requests: int = 0
    token_valid: bool = True
    moderate: bool = False
    posts: list[tuple[str, Any]] = field(default_factory=list)
    fail_posts_after_sending: int = 0  # the POST arrives, then the answer is a 502
    authorizations: list[str] = field(default_factory=list)  # as received (before scrubbing)

    def add(self, issue_id: int, updated_at: datetime, **fields: Any) -> FakeIssue:
        issue = FakeIssue(issue_id, updated_at, reporter_id=self.user_id, **fields)
        self.issues[issue_id] = issue
        return issue

    def add_many(self, count: int, start: datetime = T0, first_id: int = 1) -> None:
        for n in range(count):
            self.add(first_id + n, start + timedelta(minutes=n))

    # calls ------------------------------------------------------------------------------------

    def paths(self) -> list[str]:
        return [urlsplit(call.request.url).path for call in self.mock.calls]

    def calls_to(self, path: str) -> int:
        return sum(1 for p in self.paths() if p == f"/api/v2{path}")

    # handlers ---------------------------------------------------------------------------------

    def _unauthorized(self) -> tuple[int, dict[str, str], str]:
        return (401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, "{}")

    def profile(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.authorizations.append(request.headers.get("Authorization", ""))
        if not self.token_valid:
            return self._unauthorized()
        return (200, {}, json.dumps({"id": self.user_id, "name": "Jo Resident"}))

    def issue_list(self, request: Any) -> tuple[int, dict[str, str], str]:
        if not self.token_valid:
            return self._unauthorized()
        self.issue_requests += 1
        if self.issue_requests in self.fail_issue_requests:
            return (500, {}, "500 Server Error")
        query = {k: v[-1] for k, v in parse_qs(urlsplit(request.url).query).items()}
        page = int(query.get("page", 1))
        per_page = min(int(query.get("per_page", 20)), 100)
        items = sorted(self.issues.values(), key=lambda i: (i.updated_at, i.id))
        if "updated_at_after" in query:
            bound = datetime.fromisoformat(query["updated_at_after"].replace("Z", "+00:00"))
            items = [i for i in items if i.updated_at >= bound]
        pages = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        body = {
            "errors": None,
            "metadata": {
                "pagination": {
                    "entries": len(items),
                    "page": page,
                    "per_page": per_page,
                    "pages": pages,
                    "next_page": page + 1 if page < pages else None,
                    "next_page_url": None,
                    "previous_page": page - 1 if page > 1 else None,
                    "previous_page_url": None,
                }
            },
            "issues": [i.json() for i in chunk],
        }
        text = json.dumps(body)
        etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return (304, {"ETag": etag}, "")
        return (200, {"ETag": etag}, text)

    def comment_list(self, request: Any) -> tuple[int, dict[str, str], str]:
        issue_id = int(urlsplit(request.url).path.split("/")[-2])
        return (200, {}, json.dumps({"comments": self.comments.get(issue_id, [])}))

    def comment_post(self, request: Any) -> tuple[int, dict[str, str], str]:
        if not self.token_valid:
            return self._unauthorized()
        issue_id = int(urlsplit(request.url).path.split("/")[-2])
        text = json.loads(request.body)["comment"]
        self.posts.append(("comment", text))
        if self.moderate:
            return (202, {}, json.dumps({"metadata": {"moderated": True}}))
        comment = {
            "id": 5000 + len(self.posts),
            "comment": text,
            "commenter": {"id": self.user_id, "name": "Jo Resident"},
            "created_at": stamp(datetime.now(UTC)),
            "updated_at": stamp(datetime.now(UTC)),
        }
        self.comments.setdefault(issue_id, []).append(comment)
        if self.fail_posts_after_sending:
            self.fail_posts_after_sending -= 1
            return (502, {}, "Bad Gateway")
        return (201, {}, json.dumps(comment))

    def issue_post(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        self.posts.append(("issue", body))
        if body.get("request_type_id") == "bad":
            return (422, {}, json.dumps({"errors": {"request_type_id": ["is invalid"]}}))
        if self.moderate:
            return (202, {}, json.dumps({"metadata": {"moderated": True}}))
        now = datetime.now(UTC)
        issue = self.add(
            9000 + len(self.posts),
            now,
            created_at=now,
            summary=body.get("summary", ""),
            description=body.get("description"),
            lat=body["lat"],
            lng=body["lng"],
        )
        if self.fail_posts_after_sending:
            self.fail_posts_after_sending -= 1
            return (504, {}, "Gateway Timeout")
        return (201, {}, json.dumps(issue.json()))

    def install(self) -> FakeSCF:
        import re

        self.mock.add_callback(responses.GET, f"{API}/profile", callback=self.profile)
        self.mock.add_callback(
            responses.GET, re.compile(rf"{API}/profile/issues(\?.*)?$"), callback=self.issue_list
        )
        self.mock.add_callback(
            responses.GET, re.compile(rf"{API}/issues/\d+/comments"), callback=self.comment_list
        )
        self.mock.add_callback(
            responses.POST, re.compile(rf"{API}/issues/\d+/comments"), callback=self.comment_post
        )
        self.mock.add_callback(responses.POST, f"{API}/issues", callback=self.issue_post)
        return self


@pytest.fixture
def fake_scf():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeSCF(mock).install()
