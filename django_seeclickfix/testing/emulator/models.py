"""The emulator's records: plain dataclasses held in memory by ``State``.

They mirror what SeeClickFix and its OAuth server (Doorkeeper) keep, not the JSON shapes; those
are built in ``shapes.py``. ``repr`` of anything holding a secret hides it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

TokenRegime = Literal["non_expiring", "refresh", "no_refresh"]
TOKEN_REGIMES: tuple[str, ...] = ("non_expiring", "refresh", "no_refresh")
STATUSES: tuple[str, ...] = ("Open", "Acknowledged", "Closed", "Archived")
# The two applications every reset registers (see ``Emulator.reset``).
CODE_APP_ID = "scf-emulator-code"
CODE_APP_SECRET = "scf-emulator-code-secret"
IMPLICIT_APP_ID = "scf-emulator-implicit"


@dataclass(slots=True)
class User:
    id: int
    name: str
    email: str
    password: str = field(repr=False)
    first_name: str = ""
    last_name: str = ""
    civic_points: int = 0
    witty_title: str = "Street Smart"
    role: str = "Registered User"
    can_acknowledge: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    time_zone: str = "Eastern Time (US & Canada)"
    home_place: str | None = None
    # (address, confirmed) beyond the primary email
    other_emails: list[tuple[str, bool]] = field(default_factory=list)


_comment_ids = itertools.count(1001)


@dataclass(slots=True)
class Comment:
    commenter_id: int
    body: str
    created_at: datetime
    updated_at: datetime
    pending: bool = False  # held for moderation: stored but not shown
    # Never sent as "id": the real service shows it only inside flag_url.
    id: int = field(default_factory=lambda: next(_comment_ids))


@dataclass(slots=True)
class Vote:
    user_id: int
    created_at: datetime


@dataclass(slots=True)
class Issue:
    id: int
    summary: str
    description: str
    status: str
    lat: float
    lng: float
    address: str
    reporter_id: int
    created_at: datetime
    updated_at: datetime
    request_type_id: int | str = "other"
    assignee_id: int | None = None
    acknowledged_at: datetime | None = None
    closed_at: datetime | None = None
    rating: int = 1
    answers: dict[str, str] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)
    votes: list[Vote] = field(default_factory=list)
    followers: set[int] = field(default_factory=set)
    integration: dict[str, object] | None = None
    has_media: bool = False
    pending: bool = False  # reported while moderation was on
    # Reported anonymously: the real service then lists the placeholder reporter id 0, even in
    # the reporter's own /profile/issues.
    anonymous: bool = False


@dataclass(slots=True)
class Place:
    id: int
    name: str
    url_name: str
    county: str
    state: str
    # (min_lat, min_lng, max_lat, max_lng)
    bbox: tuple[float, float, float, float]

    @property
    def center(self) -> tuple[float, float]:
        min_lat, min_lng, max_lat, max_lng = self.bbox
        return ((min_lat + max_lat) / 2, (min_lng + max_lng) / 2)

    def contains(self, lat: float, lng: float) -> bool:
        min_lat, min_lng, max_lat, max_lng = self.bbox
        return min_lat <= lat <= max_lat and min_lng <= lng <= max_lng


@dataclass(slots=True)
class Question:
    primary_key: str
    question: str
    # SeeClickFix's question_type: text, textarea, select, multivaluelist, datetime, number,
    # file or note.
    answer_kind: str
    required: bool = False
    choices: tuple[str, ...] = ()
    private: bool = False  # answer_kept_private


@dataclass(slots=True)
class RequestType:
    id: int
    title: str
    organization: str
    place_url: str  # where it is offered
    questions: list[Question] = field(default_factory=list)


@dataclass(slots=True)
class App:
    """An OAuth application as SeeClickFix's Doorkeeper would hold it."""

    client_id: str
    secret: str | None = field(repr=False)
    redirect_uris: list[str]
    name: str = "Emulated app"
    token_regime: TokenRegime = "refresh"
    rotate_refresh_tokens: bool = True
    access_token_lifetime: int = 7200
    skip_authorization: bool = False
    refresh_token_revoked_on_use: bool = False
    # Doorkeeper's ``confidential`` column, separate from having a secret (``None``: confidential
    # exactly when there is a secret). A confidential app must authenticate at the token and
    # revoke endpoints; a non-confidential one may send its id alone, even if it has a secret.
    confidential_flag: bool | None = None

    @property
    def confidential(self) -> bool:
        if self.confidential_flag is not None:
            return self.confidential_flag
        return self.secret is not None

    def describe(self) -> dict[str, object]:
        """What a developer needs to configure a client, secret included (printed on start)."""
        return {
            "client_id": self.client_id,
            "secret": self.secret,
            "redirect_uris": list(self.redirect_uris),
            "name": self.name,
            "token_regime": self.token_regime,
            "rotate_refresh_tokens": self.rotate_refresh_tokens,
            "access_token_lifetime": self.access_token_lifetime,
            "refresh_token_revoked_on_use": self.refresh_token_revoked_on_use,
            "confidential": self.confidential,
        }


@dataclass(slots=True)
class Grant:
    """An authorization code between approval and its (single) exchange."""

    code: str = field(repr=False)
    client_id: str
    user_id: int
    redirect_uri: str
    created_at: float
    code_challenge: str | None = field(default=None, repr=False)
    code_challenge_method: str | None = None
    used: bool = False
    family: int | None = None  # tokens minted from this code, revoked if the code is replayed


@dataclass(slots=True)
class Token:
    """One Doorkeeper access-token row: access token, optional refresh token, one family."""

    id: int
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    client_id: str | None
    user_id: int
    created_at: float
    expires_in: int | None
    family: int
    kind: Literal["oauth", "personal"] = "oauth"
    revoked_at: float | None = None
    # "revoked", "rotated", "refreshed", "family", "code_replay", "deauthorized"
    revoked_reason: str | None = None
    scope: str = ""
    # With refresh_token_revoked_on_use: the row this one replaced, revoked on first use.
    previous_token_id: int | None = None

    def expired(self, now: float) -> bool:
        return self.expires_in is not None and now >= self.created_at + self.expires_in

    def expires_at(self) -> float | None:
        return None if self.expires_in is None else self.created_at + self.expires_in


@dataclass(slots=True)
class BrowserSession:
    """A signed-in browser on the emulator's authorise pages (cookie ``_scf_emulator_session``)."""

    id: str = field(repr=False)
    csrf: str = field(repr=False)
    user_id: int | None = None
