"""Small typed results. Each keeps the JSON it came from in ``raw`` (unknown fields included).

Built only through ``from_json`` classmethods, which never raise on odd input: a missing or
malformed optional field becomes ``None``. The one thing an object cannot do without is its id
(where the resource has one); that is checked by the client, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from . import parsing as p

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class User:
    """A SeeClickFix user as it appears in issues, comments and ``/users/<id>``."""

    id: int | None
    name: str | None
    role: str | None
    civic_points: int | None
    witty_title: str | None
    avatar_url: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> User:
        data = p.mapping(data)
        avatar = p.mapping(data.get("avatar"))
        return cls(
            id=p.integer(data.get("id")),
            name=p.text(data.get("name")),
            role=p.text(data.get("role")),
            civic_points=p.integer(data.get("civic_points")),
            witty_title=p.text(data.get("witty_title")),
            avatar_url=p.text(avatar.get("full")),
            raw=data,
        )

    @classmethod
    def maybe(cls, data: Any) -> User | None:
        return cls.from_json(data) if isinstance(data, Mapping) and data else None


@dataclass(frozen=True, slots=True)
class Profile:
    """The signed-in user (``GET /profile``). ``id`` is always set: the client turns
    ``{"id": null}`` into ``ReauthRequired``."""

    id: int
    name: str | None
    email: str | None
    civic_points: int | None
    witty_title: str | None
    avatar_url: str | None
    can_acknowledge: bool
    reported_issue_count: int | None
    created_at: datetime | None
    updated_at: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], id: int) -> Profile:
        avatar = p.mapping(data.get("avatar"))
        permissions = p.mapping(data.get("permissions"))
        return cls(
            id=id,
            name=p.text(data.get("name")),
            email=p.text(data.get("email")),
            civic_points=p.integer(data.get("civic_points")),
            witty_title=p.text(data.get("witty_title")),
            avatar_url=p.text(avatar.get("full")),
            can_acknowledge=bool(p.boolean(permissions.get("can_acknowledge"))),
            reported_issue_count=p.integer(data.get("reported_issue_count")),
            created_at=p.timestamp(data.get("created_at")),
            updated_at=p.timestamp(data.get("updated_at")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Email:
    """One of the signed-in user's addresses (``GET /emails``)."""

    id: int | None
    email: str | None
    confirmed: bool
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Email:
        data = p.mapping(data)
        return cls(
            id=p.integer(data.get("id")),
            email=p.text(data.get("email")),
            confirmed=bool(p.boolean(data.get("confirmed"))),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment. ``id`` is the ``id`` key when sent, else the one in ``flag_url``
    (``…/comments/<id>/flag``, the real service's only carrier of it), else ``None``;
    ``issue_status`` is the issue's status after the comment (close/open/acknowledge)."""

    id: int | None
    text: str | None
    commenter: User | None
    created_at: datetime | None
    updated_at: datetime | None
    issue_status: str | None
    moderated: bool
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Comment:
        data = p.mapping(data)
        issue = p.mapping(data.get("issue"))
        return cls(
            id=p.integer(data.get("id")) or p.comment_id_from_flag_url(data.get("flag_url")),
            text=p.text(data.get("comment")) or p.text(data.get("body")),
            commenter=User.maybe(data.get("commenter")),
            created_at=p.timestamp(data.get("created_at")),
            updated_at=p.timestamp(data.get("updated_at")),
            issue_status=p.status(issue.get("status")),
            moderated=bool(p.boolean(data.get("moderated"))),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Issue:
    """An issue. ``status`` is lower case (``open``, ``acknowledged``, ``closed``, ``archived``);
    times are timezone-aware UTC. ``comments`` and ``questions`` are ``None`` unless the issue
    was fetched with ``details=True``; so are ``comment_count``, ``vote_count`` and ``assignee``
    on the real service (its plain single issue and its list items lack them)."""

    id: int
    status: str | None
    summary: str | None
    description: str | None
    address: str | None
    lat: float | None
    lng: float | None
    rating: int | None
    created_at: datetime | None
    updated_at: datetime | None
    acknowledged_at: datetime | None
    closed_at: datetime | None
    html_url: str | None
    url: str | None
    reporter: User | None
    assignee: User | None
    comment_count: int | None
    vote_count: int | None
    comments: tuple[Comment, ...] | None
    questions: tuple[Mapping[str, Any], ...] | None
    current_user_relationship: Mapping[str, bool] | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], id: int) -> Issue:
        relationship = data.get("current_user_relationship")
        comments = data.get("comments")
        questions = data.get("questions")
        return cls(
            id=id,
            status=p.status(data.get("status")),
            summary=p.text(data.get("summary")),
            description=p.text(data.get("description")),
            address=p.text(data.get("address")),
            lat=p.number_or_none(data.get("lat")),
            lng=p.number_or_none(data.get("lng")),
            rating=p.integer(data.get("rating")),
            created_at=p.timestamp(data.get("created_at")),
            updated_at=p.timestamp(data.get("updated_at")),
            acknowledged_at=p.timestamp(data.get("acknowledged_at")),
            closed_at=p.timestamp(data.get("closed_at")),
            html_url=p.text(data.get("html_url")),
            url=p.text(data.get("url")),
            reporter=User.maybe(data.get("reporter")),
            assignee=User.maybe(data.get("assignee")),
            comment_count=p.integer(data.get("comment_count")),
            vote_count=p.integer(data.get("vote_count")),
            comments=(
                tuple(Comment.from_json(c) for c in comments)
                if isinstance(comments, list)
                else None
            ),
            questions=(
                tuple(q for q in questions if isinstance(q, Mapping))
                if isinstance(questions, list)
                else None
            ),
            current_user_relationship=(
                {str(k): bool(p.boolean(v)) for k, v in relationship.items()}
                if isinstance(relationship, Mapping)
                else None
            ),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Question:
    """A question of a request type; answers are sent keyed by ``primary_key``."""

    primary_key: str
    question: str | None
    question_type: str | None
    required: bool
    choices: tuple[str, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def maybe(cls, data: Any) -> Question | None:
        data = p.mapping(data)
        key = p.text(data.get("primary_key"))
        if key is None:
            return None
        choices: list[str] = []
        for choice in p.sequence(data.get("select_values")):
            if isinstance(choice, Mapping):
                value = p.text(choice.get("key")) or p.text(choice.get("name"))
            else:
                value = p.text(choice)
            if value is not None:
                choices.append(value)
        return cls(
            primary_key=key,
            question=p.text(data.get("question")),
            question_type=p.text(data.get("question_type")),
            required=bool(p.boolean(data.get("response_required"))),
            choices=tuple(choices),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class RequestType:
    """What can be reported at a spot (``GET /issues/new``), with its questions once fetched
    (``GET /request_types/<id>``). ``id`` may be the string ``"other"``."""

    id: int | str | None
    title: str | None
    organization: str | None
    questions: tuple[Question, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> RequestType:
        data = p.mapping(data)
        organization = data.get("organization")
        if isinstance(organization, Mapping):
            organization = organization.get("name")
        questions = (Question.maybe(q) for q in p.sequence(data.get("questions")))
        return cls(
            id=p.identifier(data.get("id")),
            title=p.text(data.get("title")) or p.text(data.get("name")),
            organization=p.text(organization),
            questions=tuple(q for q in questions if q is not None),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Created(Generic[T]):
    """The answer to a creation (issue, comment, close/open/acknowledge).

    ``moderated`` is True when SeeClickFix held the submission for moderation (202): then there
    is no ``id`` and no ``item`` yet.
    """

    id: int | None
    moderated: bool
    item: T | None
    status: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing. ``not_modified`` pages (a 304) have no items and end the listing.

    ``number`` is the page number of the request that produced it; ``high_water`` is the
    greatest ``updated_at`` among the items; ``cursor`` is where the next incremental walk
    should start once the page is stored. ``complete_before`` is set on the last page of an
    update-time walk that reached the end: every issue changed before it has been listed.
    """

    items: tuple[T, ...]
    number: int
    per_page: int | None
    total_pages: int | None
    total_entries: int | None
    has_next: bool
    not_modified: bool = False
    complete_before: datetime | None = None

    @classmethod
    def unchanged(cls, number: int) -> Page[T]:
        """The page a 304 answered: nothing changed since the stored ETag."""
        return cls(
            items=(),
            number=number,
            per_page=None,
            total_pages=None,
            total_entries=None,
            has_next=False,
            not_modified=True,
        )

    @property
    def high_water(self) -> datetime | None:
        stamps = [
            stamp for item in self.items if (stamp := getattr(item, "updated_at", None)) is not None
        ]
        return max(stamps) if stamps else None

    @property
    def cursor(self) -> datetime | None:
        """The ``updated_after`` for the next incremental walk, once this page is stored.

        Usually ``high_water``: the bound is inclusive, so that issue comes once more, because
        a change later in the same second would otherwise be missed. After the last page of
        a walk, when SeeClickFix's clock had already left that second (``complete_before``),
        no change can land in it any more: the next walk starts at the following second and
        reads nothing twice. ``None`` when the page has no dated items (keep the cursor).
        """
        high = self.high_water
        if high is None or self.complete_before is None:
            return high
        try:
            following = high.replace(microsecond=0) + timedelta(seconds=1)
        except OverflowError:  # an updated_at in the last representable second
            return high
        return following if following <= self.complete_before else high

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


__all__ = [
    "Comment",
    "Created",
    "Email",
    "Issue",
    "Page",
    "Profile",
    "Question",
    "RequestType",
    "User",
]
